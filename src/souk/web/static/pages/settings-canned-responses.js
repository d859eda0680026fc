// Canned responses: the shortcuts agents type after "/" in the reply box, with {{variables}} filled per conversation.
import { api, h, clearProblem } from "/static/lib.js";
import { root, field, table, confirmThen, statusLine, answered } from "/static/admin.js";

const VARIABLES = ["customer.first_name", "customer.last_name", "customer.display_name", "customer.phone_number",
  "customer.governorate", "agent.name", "agent.email", "conversation.id"];

const page = root();
const status = statusLine();
const shortcut = h("input", { name: "shortcut", required: true, maxlength: 64, placeholder: "/greet", autocomplete: "off" });
const content = h("textarea", { name: "content", required: true, rows: 4, maxlength: 4096, dir: "auto" });
const submit = h("button", { type: "submit" }, "Add canned response");
const cancel = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => edit(null) }, "Cancel");
const title = h("h2", {}, "New canned response");
let editing = null; // the shortcut being edited

function insert(variable) {
  const token = `{{${variable}}}`;
  content.setRangeText(token, content.selectionStart, content.selectionEnd, "end");
  content.focus();
}

const form = h("form", { id: "canned-form", class: "card", novalidate: true, onsubmit: save },
  title,
  field("Shortcut", shortcut, "Letters, digits, - and _. Agents type it after / in the reply box."),
  field("Text", content, "Variables are filled in for each conversation."),
  h("div", { class: "chips", role: "group", "aria-label": "Insert a variable" },
    ...VARIABLES.map((v) => h("button", { type: "button", class: "chip", onclick: () => insert(v) }, `{{${v}}}`))),
  h("div", { class: "actions" }, submit, cancel));

const list = h("div", { id: "canned-list" });
page.append(form, status, h("h2", {}, "Canned responses"), list);

function edit(row) {
  editing = row ? row.shortcut : null;
  clearProblem(form);
  shortcut.value = row ? `/${row.shortcut}` : "";
  content.value = row ? row.content : "";
  title.textContent = row ? `Edit /${row.shortcut}` : "New canned response";
  submit.textContent = row ? "Save changes" : "Add canned response";
  cancel.hidden = !row;
  if (row) shortcut.focus();
}

async function save(ev) {
  ev.preventDefault();
  const body = { shortcut: shortcut.value.trim(), content: content.value };
  const r = editing
    ? await api("PUT", `/api/v1/canned-responses/${encodeURIComponent(editing)}`, body)
    : await api("POST", "/api/v1/canned-responses", body);
  if (!answered(form, r)) return;
  status.say(editing ? `Saved /${r.data.shortcut}.` : `Added /${r.data.shortcut}.`);
  edit(null);
  await load();
}

async function load() {
  const r = await api("GET", "/api/v1/canned-responses");
  if (!r.ok) { status.fail(r); return; }
  list.replaceChildren(table([
    ["Shortcut", (c) => h("code", {}, `/${c.shortcut}`)],
    ["Text", (c) => h("span", { class: "pre", dir: "auto" }, c.content)],
    ["", (c) => h("span", { class: "row-actions" },
      h("button", { type: "button", class: "secondary small", onclick: () => edit(c), "aria-label": `Edit /${c.shortcut}` }, "Edit"),
      h("button", {
        type: "button", class: "danger small", "aria-label": `Delete /${c.shortcut}`,
        onclick: confirmThen(`Delete the canned response /${c.shortcut}?`, async () => {
          const d = await api("DELETE", `/api/v1/canned-responses/${encodeURIComponent(c.shortcut)}`);
          if (!d.ok) { status.fail(d); return; }
          status.say(`Deleted /${c.shortcut}.`);
          if (editing === c.shortcut) edit(null);
          await load();
        }),
      }, "Delete"))],
  ], r.data, "No canned responses yet.", { id: "canned-table" }));
}

load();
