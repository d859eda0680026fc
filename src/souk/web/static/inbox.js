// The conversation list: one page of GET /api/v1/conversations (filters mine / unassigned / all, status, channel,
// label, team, and a search over customer names and message text), unread badges from GET /api/v1/unread, "Load
// more", and live refreshes from the event stream. The filters live in the address, so a reload or a shared link
// shows the same list; `?c=<id>` opens a conversation.
import { api, h, when } from "./lib.js";
import { load, me, personName } from "./directory.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const LIVE_KINDS = ["message.created", "message.updated", "conversation.note_added", "conversation.created", "conversation.assigned", "conversation.reopened",
  "conversation.pending", "conversation.snoozed", "conversation.resolved", "conversation.handoff",
  "conversation.released", "conversation.typing"];

const main = document.getElementById("main");
const list = $("conversation-list");
const form = $("list-filters");
const state = { items: [], total: 0, unread: new Map(), openId: null, seq: 0, people: [], painted: false };

// -- filters ------------------------------------------------------------------------------------------------------

const FILTERS = ["q", "status", "channel_id", "label", "team_id"];

function readAddress() {
  const params = new URLSearchParams(location.search);
  const view = params.get("view");
  if (view && form.querySelector(`input[name=view][value="${CSS.escape(view)}"]`)) {
    form.querySelector(`input[name=view][value="${CSS.escape(view)}"]`).checked = true;
  }
  for (const name of FILTERS) {
    if (!params.has(name)) continue;
    const el = form.elements[name];
    if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === params.get(name))) {
      el.append(h("option", { value: params.get(name) }, params.get(name)));  // named before its list has loaded
    }
    el.value = params.get(name);
  }
  return params.get("c");
}

function writeAddress() {
  const params = new URLSearchParams();
  const view = form.elements.view.value;
  if (view !== "all") params.set("view", view);
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (name === "status" ? value !== "open" : value) params.set(name, value);
  }
  if (state.openId) params.set("c", state.openId);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

/** The API query of the current filters. */
function query() {
  const params = new URLSearchParams();
  const view = form.elements.view.value;
  if (view === "mine" && me) params.set("assignee_id", me);
  if (view === "unassigned") params.set("unassigned", "true");
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

// -- the list -----------------------------------------------------------------------------------------------------

function nameOf(c) {
  const cu = c.customer || {};
  return cu.display_name || [cu.first_name, cu.last_name].filter(Boolean).join(" ") || cu.phone_number
    || c.external_thread_id;
}

function row(c) {
  const name = nameOf(c);
  const unread = state.unread.get(c.id) || 0;
  const channel = c.channel ? c.channel.name : "";
  const who = c.assignee_id ? personName(state.people, c.assignee_id) : "unassigned";
  const status = c.status !== "open" ? c.status : "";
  const link = h("a", { href: `/inbox?c=${c.id}`, class: "conv-link", onclick: (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;  // a new tab keeps working
    e.preventDefault();
    open(c.id);
  } },
  h("span", { class: `avatar ${c.channel ? c.channel.channel_type : ""}`, "aria-hidden": "true" },
    (name || "?").trim().charAt(0).toUpperCase()),
  h("span", { class: "conv-main" },
    h("span", { class: "conv-name", dir: "auto" }, name),
    h("span", { class: "conv-meta" }, [channel, who, status].filter(Boolean).join(" · "))),
  h("span", { class: "conv-side" },
    h("time", { datetime: c.last_activity }, when(c.last_activity)),
    unread ? h("span", { class: "unread", title: `${unread} unread` }, String(unread),
      h("span", { class: "visually-hidden" }, " unread")) : null));
  const li = h("li", { class: `conversation${unread ? " has-unread" : ""}`, dir: "auto",
    dataset: { conversationId: c.id, status: c.status } }, link);
  if (c.id === state.openId) li.setAttribute("aria-current", "true");
  return li;
}

function render() {
  const focused = document.activeElement?.closest?.("li.conversation")?.dataset.conversationId;
  if (!state.items.length) {
    list.replaceChildren(h("li", { class: "muted empty" },
      form.elements.q.value.trim() ? "No conversation matches." : "No conversations here."));
  } else {
    list.replaceChildren(...state.items.map(row));
  }
  if (focused) list.querySelector(`li[data-conversation-id="${focused}"] a`)?.focus({ preventScroll: true });
  const shown = state.items.length;
  $("list-count").textContent = state.total === shown ? `${state.total} conversation${state.total === 1 ? "" : "s"}`
    : `${shown} of ${state.total} conversations`;
  $("load-more").hidden = shown >= state.total;
  const total = [...state.unread.values()].reduce((a, b) => a + b, 0);
  const badge = $("unread-total");
  badge.hidden = !total;
  badge.textContent = total ? `${total} unread` : "";
  if (!state.painted) {
    state.painted = true;
    performance.mark("souk:list-rendered");
  }
}

async function loadUnread() {
  if (!me) return;
  const r = await api("GET", "/api/v1/unread");
  if (r.ok) state.unread = new Map(r.data.conversations.map((x) => [x.conversation_id, x.unread]));
}

/** Load the list again: the first page, or as many rows as are shown (`keep`), or the next page (`more`). */
async function refresh({ keep = false, more = false } = {}) {
  const seq = ++state.seq;
  const params = query();
  let page = 1;
  let limit = PAGE;
  if (more) page = Math.floor(state.items.length / PAGE) + 1;
  else if (keep) limit = Math.min(200, Math.max(PAGE, Math.ceil(state.items.length / PAGE) * PAGE));
  params.set("page", page);
  params.set("limit", limit);
  const [r] = await Promise.all([api("GET", `/api/v1/conversations?${params}`), loadUnread()]);
  if (seq !== state.seq) return;  // a newer refresh is on its way
  if (!r.ok) {
    list.replaceChildren(h("li", { class: "form-error", role: "alert" },
      r.data.detail || `Could not load the conversations (HTTP ${r.status}).`));
    return;
  }
  if (more) {
    const seen = new Set(state.items.map((c) => c.id));
    state.items.push(...r.data.items.filter((c) => !seen.has(c.id)));
  } else {
    state.items = r.data.items;
  }
  state.total = r.data.total;
  render();
}

let pending = null;
/** Coalesce bursts of live events into one refresh. */
export function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => refresh({ keep: true }), 250);
}
window.refreshConversations = refreshSoon;  // the thread calls this on the events it follows

// -- opening a conversation ---------------------------------------------------------------------------------------

async function markRead(id) {
  if (!me) return;
  const r = await api("POST", `/api/v1/conversations/${id}/read`);
  if (!r.ok) return;
  if (state.unread.get(id)) {
    state.unread.delete(id);
    render();
  }
  refreshSoon();  // a refresh already under way may have counted before the mark
}

export async function open(id) {
  state.openId = id;
  for (const li of list.querySelectorAll("li[aria-current]")) li.removeAttribute("aria-current");
  list.querySelector(`li[data-conversation-id="${id}"]`)?.setAttribute("aria-current", "true");
  main.classList.add("thread-open");
  writeAddress();
  markRead(id);
  if (window.openThread) await window.openThread(id);
}

export function openId() {
  return state.openId;
}

/** Back to the list (the phone layout shows one of them at a time). */
export function backToList() {
  main.classList.remove("thread-open");
  const li = list.querySelector(`li[data-conversation-id="${state.openId}"] a`) || list.querySelector("a");
  li?.focus();
}

/** Move the keyboard cursor (focus) to the next (+1) or previous (-1) conversation. */
export function moveCursor(delta) {
  const links = [...list.querySelectorAll("li.conversation > a")];
  if (!links.length) return;
  const current = links.indexOf(document.activeElement);
  const from = current >= 0 ? current
    : links.findIndex((a) => a.parentElement.dataset.conversationId === state.openId);
  const next = from < 0 ? (delta > 0 ? 0 : links.length - 1) : Math.max(0, Math.min(links.length - 1, from + delta));
  main.classList.remove("thread-open");
  links[next].focus();
  links[next].scrollIntoView({ block: "nearest" });
}

/** Open the conversation the keyboard cursor is on. */
export function openCursor() {
  const li = document.activeElement?.closest?.("li.conversation");
  if (li) open(li.dataset.conversationId);
}

// -- wiring -------------------------------------------------------------------------------------------------------

let typing = null;
form.addEventListener("input", (e) => {
  if (e.target.name === "q") {  // search as one types, without a request per key
    clearTimeout(typing);
    typing = setTimeout(() => { writeAddress(); refresh(); }, 250);
    return;
  }
  writeAddress();
  refresh();
});
form.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(typing); writeAddress(); refresh(); });
$("load-more").addEventListener("click", () => refresh({ more: true }));
$("back-to-list").addEventListener("click", backToList);
document.addEventListener("souk:list-refresh", refreshSoon);
document.addEventListener("souk:conversation", (e) => {
  // keep the row in step with the open conversation (an assignment or status change made here)
  const c = e.detail;
  const i = state.items.findIndex((x) => x.id === c.id);
  if (i >= 0) { state.items[i] = { ...state.items[i], ...c }; render(); }
});

async function fillFilters() {
  const [channels, labels, teams, people] = await Promise.all(
    ["channels", "labels", "teams", "people"].map(load));
  state.people = people;
  const fill = (select, rows, value, label) => {
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...rows.map((x) => h("option", { value: value(x) }, label(x))));
    select.value = chosen;
  };
  fill(form.elements.channel_id, channels, (c) => c.id, (c) => `${c.name} (${c.channel_type})`);
  fill(form.elements.label, labels, (l) => l.name, (l) => l.name);
  fill(form.elements.team_id, teams, (t) => t.id, (t) => t.name);
  if (state.items.length) render();  // assignee names
}

// live: the tenant's events refresh the list and the badges; other modules hear them as `souk:live`
function listen() {
  const live = new EventSource("/api/v1/events/stream");
  const on = (event) => {
    let data = {};
    try { data = JSON.parse(event.data).data || {}; } catch { /* not JSON: refresh anyway */ }
    document.dispatchEvent(new CustomEvent("souk:live", { detail: { kind: event.type, data } }));
    if (event.type === "conversation.typing") return;  // the thread shows it; the list does not change
    refreshSoon();
    if (event.type === "message.created" && data.conversation_id && data.conversation_id === state.openId
      && document.visibilityState === "visible" && main.classList.contains("thread-open")) {
      markRead(state.openId);
    }
  };
  for (const kind of LIVE_KINDS) live.addEventListener(kind, on);
  // after a dropped connection the stream resumes from the last event id; read the list again all the same, in
  // case the server could not replay everything
  let dropped = false;
  const shown = document.getElementById("live-state");
  live.addEventListener("error", () => { dropped = true; shown.textContent = "reconnecting…"; });
  live.addEventListener("open", () => {
    shown.textContent = "live";
    if (dropped) { dropped = false; refreshSoon(); }
  });
}

const initial = readAddress();
refresh().then(() => {
  fillFilters();
  listen();
});
if (initial) open(initial);
