// The inbox: channels (with what each needs, and their history import) and the latest conversations, read from
// the JSON API.
async function api(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  if (res.status === 401) { window.location = "/login"; return null; }
  return res.ok ? res.json() : null;
}

function item(text, extra) {
  const li = document.createElement("li");
  li.textContent = text;
  if (extra) li.append(extra);
  return li;
}

function badge(text, title) {
  const span = document.createElement("span");
  span.className = "badge";
  span.textContent = text;
  span.title = title;
  return span;
}

const POLL_MS = 1000;

// -- history import: a button per channel whose platform gives history, and a progress bar while one runs

function importControls(ch) {
  const box = document.createElement("div");
  box.className = "import";
  const start = document.createElement("button");
  start.type = "button";
  start.className = "import-start";
  start.textContent = "Import history";
  const bar = document.createElement("progress");
  bar.className = "import-bar";
  bar.hidden = true;
  bar.setAttribute("aria-label", `History import of ${ch.name}`);
  const status = document.createElement("span");
  status.className = "import-status muted";
  status.setAttribute("role", "status");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "import-cancel secondary";
  cancel.textContent = "Cancel";
  cancel.hidden = true;
  box.append(start, bar, status, cancel);
  const ui = { ch, start, bar, status, cancel, workflowId: null };
  start.addEventListener("click", () => startImport(ui));
  cancel.addEventListener("click", () => cancelImport(ui));
  const last = ch.config && ch.config.importWorkflowId;
  if (last) follow(ui, last, true);
  return box;
}

async function startImport(ui) {
  ui.start.disabled = true;
  ui.status.textContent = "Starting…";
  const res = await fetch(`/api/v1/channels/${ui.ch.id}/import-history`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ strategy: "all", limit: 100 }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status === 202 || res.status === 409) { follow(ui, body.workflow_id, false); return; }
  ui.start.disabled = false;
  ui.status.textContent = body.detail || `Import failed (HTTP ${res.status})`;
}

async function cancelImport(ui) {
  if (!ui.workflowId) return;
  ui.cancel.disabled = true;
  await fetch(`/api/v1/channels/${ui.ch.id}/import-history/${encodeURIComponent(ui.workflowId)}`, { method: "DELETE" });
}

function describe(p) {
  const threads = p.chats_total == null ? `${p.chats_done} conversations` : `${p.chats_done}/${p.chats_total} conversations`;
  return `${threads} · ${p.messages_done} messages read, ${p.messages_imported} new`;
}

// Poll the progress endpoint until the import ends; ``quiet``: an earlier import found on load shows only if it runs.
async function follow(ui, workflowId, quiet) {
  ui.workflowId = workflowId;
  for (;;) {
    const p = await api(`/api/v1/channels/${ui.ch.id}/import-history/${encodeURIComponent(workflowId)}`);
    if (!p) { if (!quiet) ui.status.textContent = "Import progress unavailable"; ui.start.disabled = false; return; }
    const running = p.state === "running" || p.state === "cancelling";
    if (quiet && !running) return;
    quiet = false;
    ui.bar.hidden = !running;
    ui.cancel.hidden = !running;
    ui.start.disabled = running;
    ui.bar.closest("li").dataset.importState = p.state;
    if (p.chats_total) { ui.bar.max = p.chats_total; ui.bar.value = p.chats_done; } else { ui.bar.removeAttribute("value"); }
    ui.status.textContent = running ? `Importing… ${describe(p)}` : `Import ${p.state}: ${describe(p)}`;
    if (!running) { ui.cancel.disabled = false; loadConversations(); return; }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function loadChannels() {
  const [types, channels] = await Promise.all([api("/api/v1/channel-types"), api("/api/v1/channels?limit=100")]);
  const list = document.getElementById("channel-list");
  list.replaceChildren();
  if (!channels || channels.items.length === 0) { list.append(item("No channels yet.")); return; }
  const byType = Object.fromEntries((types || []).map((t) => [t.channel_type, t]));
  for (const ch of channels.items) {
    const type = byType[ch.channel_type] || { display_name: ch.channel_type };
    const li = item(`${ch.name} · ${type.display_name} · ${ch.status}`);
    li.dataset.channelId = ch.id;
    if (type.requires_partner_credentials) {
      li.append(badge("requires partner credentials",
        "This platform has no public API: the channel works with credentials from a partner agreement."));
    }
    if (type.history_import) li.append(importControls(ch));
    list.append(li);
  }
}

async function loadConversations() {
  const page = await api("/api/v1/conversations?limit=50");
  const list = document.getElementById("conversation-list");
  list.replaceChildren();
  if (!page || page.items.length === 0) { list.append(item("No conversations yet.")); return; }
  for (const c of page.items) {
    const name = (c.customer && (c.customer.display_name || c.customer.first_name)) || c.thread_id;
    const li = item(`${name} · ${c.message_count} messages`);
    li.dir = "auto";
    li.dataset.conversationId = c.id;
    li.tabIndex = 0;
    li.className = "conversation";
    const open = () => window.openThread && window.openThread(c.id);
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    list.append(li);
  }
}
window.refreshConversations = loadConversations;

loadChannels();
loadConversations();
