// API keys: create one (the key is shown once, with a copy button), see when each was last used, revoke.
import { api, h } from "/static/lib.js";
import { root, field, select, table, confirmThen, statusLine, answered, shownOnce, dateTime } from "/static/admin.js";

const page = root();
const status = statusLine();
const me = (await api("GET", "/api/v1/auth/me")).data;
const RANKS = { agent: 1, admin: 2, owner: 3 };
const roles = ["agent", "admin", "owner"].filter((r) => RANKS[r] <= RANKS[me.role]);

const name = h("input", { name: "name", required: true, maxlength: 200, placeholder: "zapier", autocomplete: "off" });
const role = select("role", roles.map((r) => [r, r]), "admin");
const expires = h("input", { name: "expires_at", type: "date" });
const reveal = h("div", { id: "key-reveal" });
const form = h("form", { id: "key-form", class: "card", novalidate: true, onsubmit: create },
  h("h2", {}, "New API key"),
  h("div", { class: "row" },
    field("Name", name, "Who or what uses it."),
    field("Role", role, "What it may do; never more than your own role."),
    field("Expires", expires, "Optional; it stops working at the start of that day (UTC).")),
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Create key")));
const list = h("div", { id: "key-list" });
page.append(form, reveal, status, h("h2", {}, "Keys"), list);

async function create(ev) {
  ev.preventDefault();
  const body = { name: name.value.trim(), role: role.value };
  if (expires.value) body.expires_at = `${expires.value}T00:00:00Z`;
  const r = await api("POST", "/api/v1/api-keys", body);
  if (!answered(form, r)) return;
  reveal.replaceChildren(shownOnce(`Key “${r.data.name}” created`, r.data.key,
    "Copy this key now and keep it somewhere safe: Souk stores only a hash of it and will never show it again."));
  form.reset();
  status.say("");
  await load();
}

function state(k) {
  if (k.revoked_at) return h("span", { class: "pill off" }, `revoked ${dateTime(k.revoked_at)}`);
  if (k.expires_at && new Date(k.expires_at) <= new Date()) return h("span", { class: "pill off" }, "expired");
  return h("span", { class: "pill on" }, "active");
}

async function load() {
  const r = await api("GET", "/api/v1/api-keys?limit=200");
  if (!r.ok) { status.fail(r); return; }
  list.replaceChildren(table([
    ["Name", (k) => k.name],
    ["Key", (k) => h("code", {}, `${k.prefix}…`)],
    ["Role", (k) => k.role],
    ["Created", (k) => dateTime(k.created_at)],
    ["Last used", (k) => (k.last_used_at ? dateTime(k.last_used_at) : h("span", { class: "muted" }, "never"))],
    ["Expires", (k) => (k.expires_at ? dateTime(k.expires_at) : h("span", { class: "muted" }, "never"))],
    ["Status", state],
    ["", (k) => (k.revoked_at ? "" : h("button", {
      type: "button", class: "danger small", "aria-label": `Revoke ${k.name}`,
      onclick: confirmThen(`Revoke the key “${k.name}” (${k.prefix}…)? Anything using it stops working at once.`, async () => {
        const d = await api("DELETE", `/api/v1/api-keys/${k.id}`);
        if (!d.ok) { status.fail(d); return; }
        status.say(`Revoked “${k.name}”.`);
        await load();
      }),
    }, "Revoke"))],
  ], r.data.items, "No API keys yet.", { id: "key-table" }));
}

await load();
