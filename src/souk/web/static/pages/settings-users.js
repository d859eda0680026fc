// Users: who works here and with what role (an owner changes roles), invitations by link, pending ones, revoking.
import { api, h } from "/static/lib.js";
import { root, field, select, table, confirmThen, statusLine, answered, shownOnce, dateTime } from "/static/admin.js";

const page = root();
const status = statusLine();
const me = (await api("GET", "/api/v1/auth/me")).data;
const isOwner = me.role === "owner";
const ROLES = ["agent", "admin", "owner"];

const email = h("input", { name: "email", type: "email", required: true, autocomplete: "off", placeholder: "name@shop.example" });
const role = select("role", (isOwner ? ROLES : ["agent"]).map((r) => [r, r]), "agent");
const reveal = h("div", { id: "invite-reveal" });
const form = h("form", { id: "invite-form", class: "card", novalidate: true, onsubmit: invite },
  h("h2", {}, "Invite someone"),
  h("div", { class: "row" },
    field("Email", email, "Their login. They choose their own name and password."),
    field("Role", role, isOwner ? "Agents work conversations; admins also change settings; owners also manage roles."
      : "Only an owner can invite admins and owners.")),
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Create invitation link")));
const users = h("div", { id: "user-list" });
const invites = h("div", { id: "invite-list" });
page.append(h("h2", {}, "Users"), users, status, form, reveal, h("h2", {}, "Pending invitations"), invites);

async function invite(ev) {
  ev.preventDefault();
  const r = await api("POST", "/api/v1/invites", { email: email.value.trim(), role: role.value });
  if (!answered(form, r)) return;
  const link = location.origin + r.data.path;
  reveal.replaceChildren(shownOnce(`Invitation for ${r.data.email} (${r.data.role})`, link,
    `Send this link to ${r.data.email} yourself. It works once, for 7 days, and is not shown again.`));
  form.reset();
  status.say(`Invitation created for ${r.data.email}.`);
  await loadInvites();
}

function roleCell(u) {
  if (!isOwner || u.id === me.user?.id) return h("span", { class: "role" }, u.role);
  const s = select("role", ROLES.map((r) => [r, r]), u.role, { "aria-label": `Role of ${u.email}` });
  s.addEventListener("change", async () => {
    const to = s.value;
    if (!window.confirm(`Make ${u.email} ${to === "admin" ? "an" : "a"} ${to}?`)) { s.value = u.role; return; }
    const r = await api("PATCH", `/api/v1/users/${u.id}`, { role: to });
    if (!r.ok) { s.value = u.role; status.fail(r); return; }
    u.role = r.data.role;
    status.say(`${u.email} is now ${u.role}.`);
  });
  return s;
}

async function loadUsers() {
  const r = await api("GET", "/api/v1/users?limit=200");
  if (!r.ok) { status.fail(r); return; }
  users.replaceChildren(table([
    ["Name", (u) => u.name || h("span", { class: "muted" }, "—")],
    ["Email", (u) => u.email],
    ["Role", roleCell],
    ["Status", (u) => h("span", { class: `pill ${u.is_active ? "on" : "off"}` }, u.is_active ? "active" : "deactivated")],
    ["Last login", (u) => (u.last_login_at ? dateTime(u.last_login_at) : h("span", { class: "muted" }, "never"))],
  ], r.data.items, "No users.", { id: "user-table" }));
}

async function loadInvites() {
  const r = await api("GET", "/api/v1/invites?limit=200");
  if (!r.ok) { status.fail(r); return; }
  invites.replaceChildren(table([
    ["Email", (i) => i.email],
    ["Role", (i) => i.role],
    ["Invited by", (i) => i.invited_by_label],
    ["Expires", (i) => dateTime(i.expires_at)],
    ["", (i) => (!isOwner && i.role !== "agent" ? "" : h("button", {
      type: "button", class: "danger small", "aria-label": `Revoke the invitation of ${i.email}`,
      onclick: confirmThen(`Withdraw the invitation of ${i.email}? Its link stops working.`, async () => {
        const d = await api("DELETE", `/api/v1/invites/${i.id}`);
        if (!d.ok) { status.fail(d); return; }
        status.say(`Withdrew the invitation of ${i.email}.`);
        await loadInvites();
      }),
    }, "Revoke"))],
  ], r.data.items, "No pending invitations.", { id: "invite-table" }));
}

await Promise.all([loadUsers(), loadInvites()]);
