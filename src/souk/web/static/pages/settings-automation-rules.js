// Automation rules: when an event happens and its conditions hold, do the actions. Built from the API's catalog, so
// the page offers exactly the events, fields, operators and actions the engine knows.
import { api, h, clearProblem } from "/static/lib.js";
import { root, field, select, table, confirmThen, statusLine, answered } from "/static/admin.js";

const page = root();
const status = statusLine();
const [catalog, users, teams, hooks, pipelines, canned] = await Promise.all([
  api("GET", "/api/v1/automation-rules/catalog"),
  api("GET", "/api/v1/users?limit=200"),
  api("GET", "/api/v1/teams"),
  api("GET", "/api/v1/webhooks"),
  api("GET", "/api/v1/pipelines"),
  api("GET", "/api/v1/canned-responses"),
]);
if (!catalog.ok) { page.append(status); status.fail(catalog); throw new Error("no catalog"); }
const { events: EVENTS, fields: FIELDS, actions: ACTIONS } = catalog.data;
const list = (r) => (r.ok ? (Array.isArray(r.data) ? r.data : r.data.items || []) : []);

/** Choices for an action parameter that names something of the tenant; null means free text. */
const CHOICES = {
  user_id: list(users).map((u) => [u.id, u.name ? `${u.name} <${u.email}>` : u.email]),
  team_id: list(teams).map((t) => [t.id, t.name]),
  subscription_id: list(hooks).map((w) => [w.id, w.url]),
  stage_id: list(pipelines).flatMap((p) => p.stages.map((s) => [s.id, `${p.name}: ${s.name}`])),
  agent: [["sales", "sales"], ["support", "support"]],
  target: [["conversation", "conversation"], ["customer", "customer"]],
};
const OP_LABELS = { eq: "is", neq: "is not", in: "is one of", not_in: "is none of", gt: ">", gte: "≥", lt: "<", lte: "≤",
  has: "has", not_has: "has not", contains: "contains", not_contains: "does not contain", regex: "matches regex",
  starts_with: "starts with", is: "is" };

// -- the form ------------------------------------------------------------------------------------------------------
const name = h("input", { name: "name", required: true, maxlength: 200, placeholder: "Price questions" });
const event = select("event", Object.entries(EVENTS).map(([k, d]) => [k, `${k}: ${d}`]), "message.created");
const minutes = h("input", { name: "minutes", type: "number", min: 1, max: 525600 });
const minutesField = field("Minutes without an answer", minutes);
const position = h("input", { name: "position", type: "number", value: "0" });
const enabled = h("input", { name: "enabled", type: "checkbox", checked: true });
const conditions = h("ol", { class: "rows", id: "conditions" });
const actions = h("ol", { class: "rows", id: "actions" });
const title = h("h2", {}, "New rule");
const submit = h("button", { type: "submit" }, "Add rule");
const cancel = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => edit(null) }, "Cancel");
let editing = null;

event.addEventListener("change", () => { minutesField.hidden = event.value !== "no_reply"; });
const form = h("form", { id: "rule-form", class: "card", novalidate: true, onsubmit: save },
  title,
  h("div", { class: "row" }, field("Name", name), field("When", event), minutesField),
  h("fieldset", {}, h("legend", {}, "If all of these hold"), conditions,
    h("p", { class: "field-error", role: "alert", dataset: { errorFor: "conditions" } }),
    h("button", { type: "button", class: "secondary small", onclick: () => addCondition() }, "Add condition")),
  h("fieldset", {}, h("legend", {}, "Then"), actions,
    h("p", { class: "field-error", role: "alert", dataset: { errorFor: "actions" } }),
    h("button", { type: "button", class: "secondary small", onclick: () => addAction() }, "Add action")),
  h("div", { class: "row" },
    field("Order", position, "Rules of one event run in ascending order."),
    h("label", { class: "check" }, enabled, "Enabled")),
  h("div", { class: "actions" }, submit, cancel));
minutesField.hidden = true;
const rulesList = h("div", { id: "rule-list" });
page.append(form, status, h("h2", {}, "Rules"), rulesList);

function removeButton(row, label) {
  return h("button", { type: "button", class: "secondary small", "aria-label": label, onclick: () => { row.remove(); renumber(); } }, "Remove");
}

/** Give every control its indexed name (conditions.0.value…), so the API's field errors land next to it. */
function renumber() {
  for (const [kind, ol] of [["conditions", conditions], ["actions", actions]]) {
    [...ol.children].forEach((li, i) => {
      for (const el of li.querySelectorAll("[data-key]")) el.name = `${kind}.${i}.${el.dataset.key}`;
    });
  }
}

function addCondition(c = {}) {
  const fieldSel = select("", Object.keys(FIELDS).map((f) => [f, f]), c.field || "message.text", { dataset: { key: "field" }, "aria-label": "Field" });
  const opSel = h("select", { dataset: { key: "op" }, "aria-label": "Operator" });
  const value = h("input", { dataset: { key: "value" }, "aria-label": "Value", dir: "auto" });
  const fillOps = () => {
    const ops = FIELDS[fieldSel.value] || [];
    opSel.replaceChildren(...ops.map((o) => h("option", { value: o }, OP_LABELS[o] || o)));
    if (ops.includes(c.op)) opSel.value = c.op;
    value.placeholder = fieldSel.value === "business_hours" ? "true or false" : "";
  };
  fieldSel.addEventListener("change", fillOps);
  fillOps();
  if (c.value !== undefined) value.value = Array.isArray(c.value) ? c.value.join(", ") : String(c.value);
  const li = h("li", { class: "condition" }, fieldSel, opSel, value);
  li.append(removeButton(li, "Remove condition"));
  li.collect = () => {
    const op = opSel.value;
    let v = value.value.trim();
    if (op === "in" || op === "not_in") v = v.split(",").map((s) => s.trim()).filter(Boolean);
    else if (fieldSel.value === "business_hours") v = v === "true" ? true : v === "false" ? false : v;
    else if (fieldSel.value === "customer.score" && v !== "" && !Number.isNaN(Number(v))) v = Number(v);
    return { field: fieldSel.value, op, value: v };
  };
  conditions.append(li);
  renumber();
}

function paramControl(key, value) {
  const attrs = { dataset: { key } };
  if (CHOICES[key]) {
    return select("", [["", "—"], ...CHOICES[key]], value, attrs);
  }
  if (key === "text") return h("textarea", { ...attrs, rows: 2, dir: "auto", placeholder: "Hi {{customer.first_name}}…" }, value ?? "");
  if (key === "template") return h("textarea", { ...attrs, rows: 2, placeholder: '{"name": "…", "language": "en"}' }, value ? JSON.stringify(value) : "");
  if (key === "minutes") return h("input", { ...attrs, type: "number", min: 1, value: value ?? "" });
  if (key === "canned") return h("input", { ...attrs, list: "canned-shortcuts", value: value ?? "", placeholder: "greet" });
  if (key === "labels") return h("input", { ...attrs, value: (value || []).join(", "), placeholder: "pricing, vip" });
  return h("input", { ...attrs, value: value ?? "" });
}

function addAction(a = {}) {
  const typeSel = select("", Object.keys(ACTIONS).map((t) => [t, t.replaceAll("_", " ")]), a.type || "label", { dataset: { key: "type" }, "aria-label": "Action" });
  const params = h("div", { class: "params" });
  const fill = (values) => {
    params.replaceChildren(...(ACTIONS[typeSel.value] || []).map((key) => {
      const control = paramControl(key, values[key]);
      return h("label", { class: "param" }, h("span", {}, key.replace(/_id$/, "").replaceAll("_", " ")), control);
    }));
    renumber();
  };
  typeSel.addEventListener("change", () => fill({}));
  const li = h("li", { class: "action" }, typeSel, params);
  li.append(removeButton(li, "Remove action"));
  actions.append(li);
  fill(a);
  li.collect = () => {
    const out = { type: typeSel.value };
    for (const el of params.querySelectorAll("[data-key]")) {
      const key = el.dataset.key;
      const v = el.value.trim();
      if (v === "") continue;
      if (key === "labels") out.labels = v.split(",").map((s) => s.trim()).filter(Boolean);
      else if (key === "minutes") out.minutes = Number(v);
      else if (key === "template") { try { out.template = JSON.parse(v); } catch { out.template = v; } }
      else out[key] = v;
    }
    return out;
  };
}

page.append(h("datalist", { id: "canned-shortcuts" }, ...list(canned).map((c) => h("option", { value: c.shortcut }))));

function bodyOf() {
  const body = {
    name: name.value.trim(), event: event.value, position: Number(position.value || 0), enabled: enabled.checked,
    conditions: [...conditions.children].map((li) => li.collect()),
    actions: [...actions.children].map((li) => li.collect()),
  };
  if (event.value === "no_reply" && minutes.value) body.minutes = Number(minutes.value);
  return body;
}

function edit(rule) {
  editing = rule ? rule.id : null;
  clearProblem(form);
  name.value = rule ? rule.name : "";
  event.value = rule ? rule.event : "message.created";
  minutes.value = rule?.minutes ?? "";
  minutesField.hidden = event.value !== "no_reply";
  position.value = rule ? rule.position : 0;
  enabled.checked = rule ? rule.enabled : true;
  conditions.replaceChildren();
  actions.replaceChildren();
  for (const c of rule?.conditions || []) addCondition(c);
  for (const a of rule?.actions || [{ type: "label" }]) addAction(a);
  title.textContent = rule ? `Edit “${rule.name}”` : "New rule";
  submit.textContent = rule ? "Save rule" : "Add rule";
  cancel.hidden = !rule;
  if (rule) { form.scrollIntoView({ block: "start" }); name.focus(); }
}

async function save(ev) {
  ev.preventDefault();
  renumber();
  const r = editing ? await api("PUT", `/api/v1/automation-rules/${editing}`, bodyOf())
    : await api("POST", "/api/v1/automation-rules", bodyOf());
  if (!answered(form, r)) return;
  status.say(`${editing ? "Saved" : "Added"} “${r.data.name}”.`);
  edit(null);
  await load();
}

function summary(rule) {
  const conds = rule.conditions.map((c) => `${c.field} ${OP_LABELS[c.op] || c.op} ${Array.isArray(c.value) ? c.value.join(", ") : c.value}`);
  const acts = rule.actions.map((a) => a.type.replaceAll("_", " ") + (a.labels ? ` ${a.labels.join(", ")}` : ""));
  return `${conds.length ? `if ${conds.join(" and ")}, ` : ""}${acts.join("; ")}`;
}

function ruleBody(rule, changes) {
  const { name: n, event: e, conditions: c, actions: a, position: p, enabled: en, minutes: m } = rule;
  return { name: n, event: e, conditions: c, actions: a, position: p, enabled: en, minutes: m, ...changes };
}

async function load() {
  const r = await api("GET", "/api/v1/automation-rules");
  if (!r.ok) { status.fail(r); return; }
  rulesList.replaceChildren(table([
    ["Name", (x) => x.name],
    ["When", (x) => x.event + (x.minutes ? ` (${x.minutes} min)` : "")],
    ["What", (x) => h("span", { class: "summary" }, summary(x))],
    ["Enabled", (x) => h("label", { class: "check" },
      h("input", {
        type: "checkbox", checked: x.enabled, "aria-label": `Enable ${x.name}`,
        onchange: async (ev) => {
          const u = await api("PUT", `/api/v1/automation-rules/${x.id}`, ruleBody(x, { enabled: ev.target.checked }));
          if (!u.ok) { ev.target.checked = x.enabled; status.fail(u); return; }
          status.say(`“${x.name}” ${u.data.enabled ? "enabled" : "disabled"}.`);
          await load();
        },
      }), x.enabled ? "on" : "off")],
    ["", (x) => h("span", { class: "row-actions" },
      h("button", { type: "button", class: "secondary small", onclick: () => edit(x), "aria-label": `Edit ${x.name}` }, "Edit"),
      h("button", {
        type: "button", class: "danger small", "aria-label": `Delete ${x.name}`,
        onclick: confirmThen(`Delete the rule “${x.name}” and its log?`, async () => {
          const d = await api("DELETE", `/api/v1/automation-rules/${x.id}`);
          if (!d.ok) { status.fail(d); return; }
          status.say(`Deleted “${x.name}”.`);
          if (editing === x.id) edit(null);
          await load();
        }),
      }, "Delete"))],
  ], r.data, "No rules yet.", { id: "rule-table" }));
}

edit(null);
await load();
