// The inbox: channels (with what each needs) and the latest conversations, read from the JSON API.
document.getElementById("logout").addEventListener("click", async () => {
  await fetch("/api/v1/auth/logout", { method: "POST" });
  window.location = "/login";
});

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
