// Who else is typing in the open conversation. While you type a reply or a note, the other people who have the
// conversation open see "<name> is typing…" (POST …/typing, passed on live and never stored), so two people do not
// answer the same customer at once.
import { h } from "/static/lib.js";

const SEND_EVERY_MS = 3000;  // while typing, say so at most this often
const IDLE_MS = 4000;        // no key for this long: stopped typing
const SHOWN_MS = 6000;       // a signal not renewed for this long is forgotten

const me = document.getElementById("conversations")?.dataset.me || "";
const text = document.getElementById("reply-text");
const form = document.getElementById("reply-form");
const shown = h("p", { id: "typing-state", class: "typing-state muted", role: "status", "aria-live": "polite" });
form.before(shown);

let open = null;       // the open conversation's id
let lastSent = 0;
let idle = null;
const typists = new Map();  // by → {name, timer}

// best effort and silent: not lib.js's api(), whose 401 sends the page to the login (the reply box does that)
function say(typing) {
  if (!open) return;
  lastSent = typing ? Date.now() : 0;
  fetch(`/api/v1/conversations/${open}/typing`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ typing }),
    keepalive: true,
  }).catch(() => {});
}

function stop() {
  clearTimeout(idle);
  idle = null;
  if (lastSent) say(false);
}

text.addEventListener("input", () => {
  if (!text.value.trim()) { stop(); return; }
  if (Date.now() - lastSent > SEND_EVERY_MS) say(true);
  clearTimeout(idle);
  idle = setTimeout(stop, IDLE_MS);
});
form.addEventListener("submit", stop);

function render() {
  const names = [...typists.values()].map((t) => t.name);
  shown.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

document.addEventListener("souk:conversation", (event) => {
  if (event.detail.id === open) return;
  stop();
  open = event.detail.id;
  for (const t of typists.values()) clearTimeout(t.timer);
  typists.clear();
  render();
});

document.addEventListener("souk:live", (event) => {
  const { kind, data } = event.detail;
  if (kind !== "conversation.typing" || data.conversation_id !== open || data.by === me) return;
  clearTimeout(typists.get(data.by)?.timer);
  if (data.typing) {
    typists.set(data.by, { name: data.name, timer: setTimeout(() => { typists.delete(data.by); render(); }, SHOWN_MS) });
  } else {
    typists.delete(data.by);
  }
  render();
});
