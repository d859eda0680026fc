// What an agent does to the open conversation, in the thread's header: assign it (to themselves, a person or a
// team), label it, set its status, snooze it until a time. Each control calls the public API; the thread dispatches
// `souk:conversation` whenever the open conversation loads, and live events for it (an assignment by someone else)
// re-read it here.
import { api, clearProblem, h, showProblem, when } from "./lib.js";
import { load, me, reload } from "./directory.js";

const box = document.getElementById("thread-actions");
let conv = null;
let labels = [];
let built = null;

const STATUS = [["open", "Open"], ["pending", "Pending"], ["resolved", "Resolved"]];

function say(text, error = false) {
  built.note.textContent = text;
  built.note.className = error ? "form-error" : "muted action-note";
}

function tomorrowNine() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(9, 0, 0, 0);
  return localInput(d);
}

/** Snooze presets: a label and the time it means from now. */
const PRESETS = [
  ["In 1 hour", () => new Date(Date.now() + 3600e3)],
  ["In 3 hours", () => new Date(Date.now() + 3 * 3600e3)],
  ["Tomorrow 9:00", () => { const d = new Date(); d.setDate(d.getDate() + 1); d.setHours(9, 0, 0, 0); return d; }],
  ["Next Monday 9:00", () => {
    const d = new Date();
    d.setDate(d.getDate() + (((8 - d.getDay()) % 7) || 7));
    d.setHours(9, 0, 0, 0);
    return d;
  }],
];

function localInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function build() {
  const assignee = h("select", { id: "assign-person", name: "assignee_id" });
  const team = h("select", { id: "assign-team", name: "team_id" });
  const status = h("select", { id: "conversation-status", name: "status" },
    STATUS.map(([v, l]) => h("option", { value: v }, l)), h("option", { value: "snoozed", disabled: true }, "Snoozed"));
  const until = h("input", { id: "snooze-until", name: "snoozed_until", type: "datetime-local", value: tomorrowNine() });
  const labelInput = h("input", { id: "label-input", name: "labels.0", list: "label-options", autocomplete: "off",
    placeholder: "Add a label", dir: "auto", maxlength: "64" });
  const chips = h("ul", { class: "chips", id: "conversation-labels", "aria-label": "Labels" });
  const note = h("p", { class: "muted action-note", role: "status", "aria-live": "polite", id: "actions-note" });
  const me_ = h("button", { type: "button", class: "secondary small", id: "assign-me", onclick: assignToMe,
    "aria-keyshortcuts": "A" },
    "Assign to me");
  const resolve = h("button", { type: "button", class: "small", id: "resolve", onclick: () => setStatus("resolved"),
    "aria-keyshortcuts": "E" },
    "Resolve");
  assignee.addEventListener("change", () => assign({ assignee_id: assignee.value || null,
    team_id: team.value || null }));
  team.addEventListener("change", () => assign({ assignee_id: assignee.value || null, team_id: team.value || null }));
  status.addEventListener("change", () => setStatus(status.value));
  box.append(
    h("div", { class: "action-row" },
      h("label", { for: "assign-person" }, "Assignee"), assignee,
      h("label", { for: "assign-team" }, "Team"), team, me_),
    h("div", { class: "action-row" },
      h("label", { for: "conversation-status" }, "Status"), status, resolve,
      h("form", { class: "snooze", id: "snooze-form", onsubmit: (e) => { e.preventDefault(); snooze(until.value); } },
        h("label", { for: "snooze-preset" }, "Snooze"),
        h("select", { id: "snooze-preset", onchange: (e) => {
          const preset = PRESETS[Number(e.target.value)];
          if (preset) until.value = localInput(preset[1]());
        } }, h("option", { value: "" }, "until…"), PRESETS.map(([label], i) => h("option", { value: String(i) }, label))),
        h("label", { for: "snooze-until", class: "visually-hidden" }, "Snooze until"), until,
        h("button", { type: "submit", class: "secondary small", id: "snooze" }, "Snooze"))),
    h("div", { class: "action-row labels" },
      chips,
      h("form", { class: "add-label", id: "label-form", onsubmit: (e) => { e.preventDefault(); addLabel(labelInput.value); } },
        h("label", { for: "label-input", class: "visually-hidden" }, "Add a label"), labelInput,
        h("datalist", { id: "label-options" }),
        h("button", { type: "submit", class: "secondary small" }, "Add label"))),
    note);
  built = { assignee, team, status, until, labelInput, chips, note, resolve, me: me_ };
}

async function fillChoices() {
  const [people, teams, known] = await Promise.all([load("people"), load("teams"), load("labels")]);
  const keep = (select, options) => { select.replaceChildren(...options); };
  keep(built.assignee, [h("option", { value: "" }, "Nobody"),
    me ? h("option", { value: me }, "Me") : null,
    ...people.filter((p) => p.id !== me).map((p) => h("option", { value: p.id }, p.name || p.email))].filter(Boolean));
  keep(built.team, [h("option", { value: "" }, "No team"), ...teams.map((t) => h("option", { value: t.id }, t.name))]);
  document.getElementById("label-options").replaceChildren(...known.map((l) => h("option", { value: l.name })));
}

function show() {
  if (!conv) return;
  const { assignee, team, status, resolve } = built;
  if (conv.assignee_id && ![...assignee.options].some((o) => o.value === conv.assignee_id)) {
    assignee.append(h("option", { value: conv.assignee_id }, "someone else"));
  }
  assignee.value = conv.assignee_id || "";
  if (conv.team_id && ![...team.options].some((o) => o.value === conv.team_id)) {
    team.append(h("option", { value: conv.team_id }, "a team"));
  }
  team.value = conv.team_id || "";
  status.value = conv.status;
  resolve.disabled = conv.status === "resolved";
  built.me.disabled = !me || conv.assignee_id === me;
  box.dataset.status = conv.status;
  if (conv.status === "snoozed" && conv.snoozed_until) say(`Snoozed until ${when(conv.snoozed_until)}.`);
  built.chips.replaceChildren(...labels.map((name) => h("li", { class: "chip", dir: "auto" }, name,
    h("button", { type: "button", class: "chip-remove", "aria-label": `Remove label ${name}`, title: "Remove",
      onclick: () => removeLabel(name) }, "×"))));
}

/** A changed conversation from the API: show it, and let the list and the panel know. */
function changed(data, message) {
  conv = { ...conv, ...data };
  show();
  if (message) say(message);
  document.dispatchEvent(new CustomEvent("souk:list-refresh"));
}

async function assign(body) {
  if (!conv) return;
  const r = await api("PUT", `/api/v1/conversations/${conv.id}/assignee`, body);
  if (!r.ok) { say(r.data.detail || `Could not assign (HTTP ${r.status}).`, true); show(); return; }
  const who = r.data.assignee_id === me ? "you" : r.data.assignee_id
    ? built.assignee.querySelector(`option[value="${r.data.assignee_id}"]`)?.textContent || "someone"
    : "nobody";
  changed(r.data, `Assigned to ${who}.`);
}

/** Assign the open conversation to the signed-in person (keeps its team). */
export function assignToMe() {
  if (!conv || !me) return;
  return assign({ assignee_id: me, team_id: conv.team_id || null });
}

/** Set the open conversation's status: open, pending or resolved (a snooze needs its time: the snooze form). */
export async function setStatus(status) {
  if (!conv) return;
  const r = await api("PUT", `/api/v1/conversations/${conv.id}/status`, { status });
  if (!r.ok) { say(r.data.detail || `Could not change the status (HTTP ${r.status}).`, true); show(); return; }
  const text = { open: "Reopened.", pending: "Marked pending.", resolved: "Resolved." }[status] || "";
  changed(r.data, text);
}

async function snooze(value) {
  const form = document.getElementById("snooze-form");
  const at = value ? new Date(value) : null;
  if (!at || Number.isNaN(at.getTime()) || at <= new Date()) {
    showProblem(form, { ok: false, status: 422, data: { errors: [
      { field: "snoozed_until", message: "Pick a time in the future." }] } });
    built.until.focus();
    return;
  }
  clearProblem(form);
  const r = await api("PUT", `/api/v1/conversations/${conv.id}/status`,
    { status: "snoozed", snoozed_until: at.toISOString() });
  if (!r.ok) { showProblem(form, r); return; }
  changed(r.data, `Snoozed until ${when(r.data.snoozed_until)}.`);
}

async function readLabels() {
  const r = await api("GET", `/api/v1/conversations/${conv.id}/labels`);
  labels = r.ok ? r.data.labels : [];
  show();
}

async function addLabel(value) {
  const name = value.trim();
  if (!name || !conv) return;
  const form = document.getElementById("label-form");
  const r = await api("POST", `/api/v1/conversations/${conv.id}/labels`, { labels: [name] });
  if (!r.ok) { showProblem(form, r); return; }
  clearProblem(form);
  labels = r.data.labels;
  built.labelInput.value = "";
  show();
  say(`Label ${name} added.`);
  reload("labels").then(fillChoices);
}

async function removeLabel(name) {
  const r = await api("DELETE", `/api/v1/conversations/${conv.id}/labels/${encodeURIComponent(name)}`);
  if (!r.ok) { say(r.data.detail || "Could not remove the label.", true); return; }
  labels = r.data.labels;
  show();
  say(`Label ${name} removed.`);
  built.labelInput.focus();
}

document.addEventListener("souk:conversation", (e) => {
  const fresh = !conv || conv.id !== e.detail.id;
  if (!built) { build(); fillChoices().then(show); }
  conv = e.detail;
  if (fresh) {
    say("");
    built.until.value = tomorrowNine();
    document.getElementById("snooze-preset").value = "2";
    labels = [];
    readLabels();
  }
  show();
});

// someone else assigned, resolved or snoozed the open conversation: read it again
document.addEventListener("souk:live", async (e) => {
  const { kind, data } = e.detail;
  if (!conv || data.conversation_id !== conv.id || !kind.startsWith("conversation.")) return;
  const r = await api("GET", `/api/v1/conversations/${conv.id}`);
  if (r.ok && conv && r.data.id === conv.id) {
    conv = r.data;
    show();
  }
});
