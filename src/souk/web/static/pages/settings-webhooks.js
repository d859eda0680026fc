// Outgoing webhooks: subscribe a URL to events (the signing secret is shown once), pause or delete a subscription,
// see its deliveries with their response codes, and send one again.
import { api, h } from "/static/lib.js";
import { root, field, table, confirmThen, statusLine, answered, shownOnce, dateTime } from "/static/admin.js";

const COMMON = ["message.created", "message.updated", "conversation.created", "conversation.assigned",
  "conversation.resolved", "conversation.handoff", "customer.created", "customer.stage_changed", "order.created",
  "order.status_changed", "*"];

const page = root();
const status = statusLine();
const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://erp.example.com/souk-events" });
const boxes = COMMON.map((e) => h("label", { class: "check" },
  h("input", { type: "checkbox", name: "events", value: e }), e === "*" ? "* (every event)" : e));
const more = h("input", { name: "more_events", placeholder: "conversation.*, order.*", autocomplete: "off" });
const description = h("input", { name: "description", maxlength: 200 });
const reveal = h("div", { id: "webhook-reveal" });
const form = h("form", { id: "webhook-form", class: "card", novalidate: true, onsubmit: create },
  h("h2", {}, "New webhook"),
  field("URL", url, "Souk POSTs each event here as JSON, signed with the secret in the Souk-Signature header."),
  h("fieldset", { class: "events" }, h("legend", {}, "Events"), ...boxes,
    h("p", { class: "field-error", role: "alert", dataset: { errorFor: "events" } })),
  field("Other events", more, "Comma-separated; * wildcards allowed."),
  field("Description", description),
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Add webhook")));
const list = h("div", { id: "webhook-list" });
const deliveries = h("section", { id: "deliveries", "aria-live": "polite" });
page.append(form, reveal, status, h("h2", {}, "Webhooks"), list, deliveries);

async function create(ev) {
  ev.preventDefault();
  const events = [...form.querySelectorAll("input[name=events]:checked")].map((b) => b.value)
    .concat(more.value.split(",").map((s) => s.trim()).filter(Boolean));
  const body = { url: url.value.trim(), events };
  if (description.value.trim()) body.description = description.value.trim();
  const r = await api("POST", "/api/v1/webhooks", body);
  if (!answered(form, r)) return;
  reveal.replaceChildren(shownOnce(`Webhook to ${r.data.url} added`, r.data.secret,
    "This is the signing secret. Copy it into the receiving system now: it is shown only this once."));
  form.reset();
  await load();
}

async function setActive(w, active) {
  const r = await api("PATCH", `/api/v1/webhooks/${w.id}`, { active });
  if (!r.ok) { status.fail(r); return; }
  status.say(`${w.url} ${active ? "resumed" : "paused"}.`);
  await load();
}

async function load() {
  const r = await api("GET", "/api/v1/webhooks");
  if (!r.ok) { status.fail(r); return; }
  list.replaceChildren(table([
    ["URL", (w) => h("span", { class: "url" }, w.url, w.description ? h("span", { class: "muted block" }, w.description) : "")],
    ["Events", (w) => w.events.join(", ")],
    ["Secret", (w) => h("code", {}, w.secret)],
    ["Active", (w) => h("label", { class: "check" },
      h("input", { type: "checkbox", checked: w.active, onchange: (ev) => setActive(w, ev.target.checked) }),
      w.active ? "on" : "paused")],
    ["", (w) => h("span", { class: "row-actions" },
      h("button", { type: "button", class: "secondary small", onclick: () => showDeliveries(w) }, "Deliveries"),
      h("button", {
        type: "button", class: "danger small", "aria-label": `Delete the webhook to ${w.url}`,
        onclick: confirmThen(`Delete the webhook to ${w.url} and its delivery log?`, async () => {
          const d = await api("DELETE", `/api/v1/webhooks/${w.id}`);
          if (!d.ok) { status.fail(d); return; }
          status.say(`Deleted the webhook to ${w.url}.`);
          deliveries.replaceChildren();
          await load();
        }),
      }, "Delete"))],
  ], r.data, "No webhooks yet.", { id: "webhook-table" }));
}

async function showDeliveries(w) {
  const r = await api("GET", `/api/v1/webhooks/${w.id}/deliveries?limit=50`);
  if (!r.ok) { status.fail(r); return; }
  deliveries.replaceChildren(
    h("h2", {}, `Deliveries to ${w.url}`),
    h("p", { class: "muted" }, `${r.data.total} in all, newest first.`),
    table([
      ["Event", (d) => d.event_type],
      ["Status", (d) => h("span", { class: `pill ${d.status === "delivered" ? "on" : d.status === "failed" ? "off" : ""}` }, d.status)],
      ["Attempts", (d) => String(d.attempts)],
      ["Last answer", (d) => (d.last_status_code ? `HTTP ${d.last_status_code}` : "") + (d.last_error ? ` ${d.last_error}` : "")],
      ["Created", (d) => dateTime(d.created_at)],
      ["Delivered", (d) => dateTime(d.delivered_at)],
      ["", (d) => h("button", {
        type: "button", class: "secondary small", onclick: async (ev) => {
          ev.target.disabled = true;
          const x = await api("POST", `/api/v1/webhook-deliveries/${d.id}/redeliver`);
          if (!x.ok) { status.fail(x); ev.target.disabled = false; return; }
          status.say(`Sent ${d.event_type} again: ${x.data.status}.`);
          await showDeliveries(w);
        },
      }, "Redeliver")],
    ], r.data.items, "Nothing delivered yet.", { id: "delivery-table" }));
  deliveries.scrollIntoView({ block: "nearest" });
}

await load();
