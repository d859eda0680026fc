// The open conversation: its messages and private notes (thread-render.js), the reply box (reply.js) and the bot /
// person switch. The open conversation is in the address (#c=<id>), so a reload or a bookmark comes back to it.
// Live: the tenant's events arrive over server-sent events, so a new message, a status, a note or a handoff shows
// without reloading, in every open browser.
import { api, h } from "/static/lib.js";
import { REOPEN_KEY, setupReply } from "/static/reply.js";
import { platformBadge, threadItems } from "/static/thread-render.js";

const $ = (id) => document.getElementById(id);
const PAGE = 100;
const OPEN_KEY = "souk:open";
const s = { id: null, older: [], before: null, loading: false, again: false, toBottom: false };

// after one's own send, and when a conversation opens, the newest message is in view
const reply = setupReply({ onSent: () => { s.toBottom = true; return load(); } });

function showBot(conv) {
  const person = conv.handoff_at || conv.assignee_id;
  $("bot-state").textContent = person
    ? `A person has this conversation${conv.handoff_reason ? ` (${conv.handoff_reason})` : ""}; the bot is silent.`
    : "The bot may answer this conversation.";
  $("bot-toggle").textContent = person ? "Give back to the bot" : "Take over from the bot";
  $("bot-toggle").dataset.action = person ? "release" : "handoff";
}

async function resend(message) {
  const r = await api("POST", `/api/v1/messages/${message.id}/resend`);
  if (!r.ok) return r.data?.detail || `HTTP ${r.status}`;
  await load();
  return null;
}

function unique(messages) {
  const seen = new Map();
  for (const m of messages) seen.set(m.id, m);
  return [...seen.values()];
}

/** Read the conversation again; calls made while one runs are folded into one more read after it. */
async function load() {
  if (!s.id) return;
  if (s.loading) { s.again = true; return; }
  s.loading = true;
  try {
    do {
      s.again = false;
      await read(s.id);
    } while (s.again);
  } finally {
    s.loading = false;
  }
}

async function read(id) {
  const [conv, page, notes] = await Promise.all([
    api("GET", `/api/v1/conversations/${id}`),
    api("GET", `/api/v1/conversations/${id}/messages?latest=true&limit=${PAGE}`),
    api("GET", `/api/v1/conversations/${id}/notes`),
  ]);
  if (id !== s.id) return;  // another conversation was opened meanwhile
  const list = $("message-list");
  if (!conv.ok || !page.ok) {
    list.replaceChildren(h("li", { class: "form-error", role: "alert" },
      (conv.ok ? page : conv).data?.detail || "This conversation cannot be read."));
    return;
  }
  const c = conv.data;
  $("thread-title").textContent = (c.customer && (c.customer.display_name || c.customer.first_name))
    || c.external_thread_id;
  $("thread-title").dir = "auto";
  $("thread-channel").replaceChildren(...(c.channel
    ? [platformBadge(c.channel.channel_type), ` ${c.channel.name}`] : []));
  showBot(c);
  reply.update(c);
  // other parts of the page (actions, the customer panel) follow the open conversation through this event
  document.dispatchEvent(new CustomEvent("souk:conversation", { detail: c }));

  if (!s.older.length) s.before = page.data.next_cursor;
  $("load-earlier").hidden = !s.before;
  const messages = unique([...s.older, ...page.data.items]);
  // notes older than the first message shown wait until the earlier messages are loaded
  const from = s.before && messages.length ? new Date(messages[0].timestamp) : null;
  const shownNotes = (notes.ok ? notes.data : []).filter((n) => !from || new Date(n.created_at) >= from);
  const byExternalId = new Map(messages.filter((m) => m.external_id).map((m) => [m.external_id, m]));
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.replaceChildren(...threadItems(messages, shownNotes, { byExternalId, onRetry: resend }));
  if (!messages.length && !shownNotes.length) list.append(h("li", { class: "muted" }, "No messages yet."));
  if (atBottom || s.toBottom) list.scrollTop = list.scrollHeight;
  s.toBottom = false;
}

$("load-earlier").addEventListener("click", async () => {
  if (!s.id || !s.before) return;
  const r = await api("GET", `/api/v1/conversations/${s.id}/messages?before=${encodeURIComponent(s.before)}&limit=${PAGE}`);
  if (!r.ok) return;
  s.older = unique([...r.data.items, ...s.older]);
  s.before = r.data.next_cursor;
  const list = $("message-list");
  const fromBottom = list.scrollHeight - list.scrollTop;
  await load();
  list.scrollTop = list.scrollHeight - fromBottom;  // keep the reader's place
});

async function openThread(id) {
  if (!id) return;
  s.id = id;
  s.older = [];
  s.before = null;
  s.toBottom = true;
  history.replaceState(null, "", `${location.pathname}${location.search}#c=${id}`);
  sessionStorage.setItem(OPEN_KEY, id);
  $("thread").hidden = false;
  $("message-list").replaceChildren(h("li", { class: "muted" }, "Loading…"));
  reply.open(id);
  await load();
  reply.focus();
}
window.openThread = openThread;

$("bot-toggle").addEventListener("click", async () => {
  if (!s.id) return;
  const action = $("bot-toggle").dataset.action;
  await api("POST", `/api/v1/conversations/${s.id}/${action}`, action === "handoff" ? {} : undefined);
  await load();
});

// the conversation in the address, or the one an expired session left: the login page drops the address's #, so
// the tab remembers it (beforeLogin; or the last one opened, when the page comes straight back from logging in)
function fromAddress() {
  return new URLSearchParams(location.hash.slice(1)).get("c");
}
window.addEventListener("hashchange", () => { const id = fromAddress(); if (id && id !== s.id) openThread(id); });
const fromLogin = document.referrer && new URL(document.referrer).pathname === "/login";
const reopen = fromAddress() || sessionStorage.getItem(REOPEN_KEY) || (fromLogin && sessionStorage.getItem(OPEN_KEY));
sessionStorage.removeItem(REOPEN_KEY);
if (reopen) openThread(reopen);

// live: the inbox's one event stream (inbox.js) passes each event on as `souk:live`
const THREAD_KINDS = new Set(["message.created", "message.updated", "conversation.handoff", "conversation.released",
  "conversation.note_added", "conversation.assigned"]);
document.addEventListener("souk:live", (event) => {
  const { kind, data } = event.detail;
  if (s.id && data.conversation_id === s.id && THREAD_KINDS.has(kind)) load();
});
