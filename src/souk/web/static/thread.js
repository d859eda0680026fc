// The open conversation: its messages (newest at the bottom, delivery ticks, media, edits, deletions, reactions),
// the reply box, and the bot / person switch. Live: the tenant's events arrive over server-sent events, so a new
// message, a status or a handoff shows without reloading, in every open browser.
(() => {
  let openId = null;
  let draftKey = null;
  const $ = (id) => document.getElementById(id);
  const TICKS = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };

  async function call(method, path, body, headers) {
    const res = await fetch(path, {
      method,
      headers: { accept: "application/json", ...(body ? { "content-type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401) {
      sessionStorage.setItem(`draft:${openId}`, $("reply-text").value);  // an expired session keeps the draft
      window.location = "/login";
      return null;
    }
    const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
    return { ok: res.ok, status: res.status, data };
  }

  function bubble(m) {
    const li = document.createElement("li");
    li.className = `msg ${m.direction}${m.deleted_at ? " deleted" : ""}`;
    li.dataset.messageId = m.id;
    const text = document.createElement("p");
    text.className = "text";
    text.dir = "auto";  // Arabic renders right to left, English left to right
    text.textContent = m.message_text || (m.media.length ? "" : `[${m.message_type}]`);
    li.append(text);
    for (const media of m.media) {
      const a = document.createElement("a");
      a.href = `/api/v1/media/${media.id}`;
      a.textContent = `${media.kind}${media.filename ? `: ${media.filename}` : ""} (${media.status})`;
      a.className = "media";
      li.append(a);
    }
    const meta = document.createElement("span");
    meta.className = "meta";
    const when = new Date(m.timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.textContent = when;
    if (m.edited_at) meta.textContent += " · edited";
    if (m.deleted_at) meta.textContent += " · deleted by the sender";
    if (m.reactions.length) meta.textContent += ` · ${m.reactions.map((r) => r.emoji).join(" ")}`;
    if (m.direction === "outbound") {
      const tick = document.createElement("span");
      tick.className = `tick ${m.status}`;
      tick.textContent = TICKS[m.status] || m.status;
      tick.title = m.status === "failed" ? `failed: ${m.error_message || m.error_code || "unknown reason"}` : m.status;
      meta.append(" ", tick);
      if (m.sent_by === "souk" && m.message_metadata?.sender?.type === "agent") meta.append(" · AI");
    }
    li.append(meta);
    if (m.status === "failed" && m.direction === "outbound") {
      const why = document.createElement("p");
      why.className = "failed-reason";
      why.textContent = `Not delivered: ${m.error_message || m.error_code || "unknown reason"}`;
      const retry = document.createElement("button");
      retry.type = "button";
      retry.textContent = "Retry";
      retry.addEventListener("click", async () => {
        const r = await call("POST", `/api/v1/messages/${m.id}/resend`);
        if (r && !r.ok) why.textContent = r.data.detail || "Could not resend.";
        await load();
      });
      why.append(" ", retry);
      li.append(why);
    }
    return li;
  }

  function showBot(conv) {
    const state = $("bot-state");
    const button = $("bot-toggle");
    const person = conv.handoff_at || conv.assignee_id;
    state.textContent = person
      ? `A person has this conversation${conv.handoff_reason ? ` (${conv.handoff_reason})` : ""}; the bot is silent.`
      : "The bot may answer this conversation.";
    button.textContent = person ? "Give back to the bot" : "Take over from the bot";
    button.dataset.action = person ? "release" : "handoff";
  }

  async function load() {
    if (!openId) return;
    const [conv, page] = await Promise.all([
      call("GET", `/api/v1/conversations/${openId}`),
      call("GET", `/api/v1/conversations/${openId}/messages?latest=true&limit=100`),
    ]);
    if (!conv || !conv.ok || !page || !page.ok) return;
    const c = conv.data;
    $("thread-title").textContent =
      (c.customer && (c.customer.display_name || c.customer.first_name)) || c.external_thread_id;
    $("thread-title").dir = "auto";
    $("thread-channel").textContent = c.channel ? `${c.channel.name} · ${c.channel.channel_type}` : "";
    showBot(c);
    // other parts of the page (actions, the customer panel) follow the open conversation through this event
    document.dispatchEvent(new CustomEvent("souk:conversation", { detail: c }));
    const list = $("message-list");
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    list.replaceChildren(...page.data.items.map(bubble));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  window.openThread = async (id) => {
    openId = id;
    draftKey = null;
    $("thread").hidden = false;
    $("reply-text").value = sessionStorage.getItem(`draft:${id}`) || "";
    sessionStorage.removeItem(`draft:${id}`);
    $("reply-error").textContent = "";
    await load();
    $("reply-text").focus();
  };

  $("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text || !openId) return;
    draftKey = draftKey || crypto.randomUUID();  // a retried click sends the same message once
    const r = await call("POST", `/api/v1/conversations/${openId}/messages`, { type: "text", text },
      { "Idempotency-Key": draftKey });
    if (!r) return;
    if (!r.ok) {
      $("reply-error").textContent = r.data.detail || `Could not send (HTTP ${r.status}).`;
      return;
    }
    $("reply-text").value = "";
    $("reply-error").textContent = "";
    draftKey = null;
    await load();
  });

  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply-form").requestSubmit();
  });

  $("bot-toggle").addEventListener("click", async () => {
    if (!openId) return;
    const action = $("bot-toggle").dataset.action;
    await call("POST", `/api/v1/conversations/${openId}/${action}`, action === "handoff" ? {} : undefined);
    await load();
  });

  // live: one stream per page; EventSource reconnects by itself and resumes with Last-Event-ID
  const live = new EventSource("/api/v1/events/stream");
  const refresh = (event) => {
    const data = JSON.parse(event.data).data || {};
    if (openId && data.conversation_id === openId) load();
    if (window.refreshConversations) window.refreshConversations();
  };
  for (const kind of ["message.created", "message.updated", "conversation.created", "conversation.handoff",
    "conversation.released"]) {
    live.addEventListener(kind, refresh);
  }
  live.addEventListener("open", () => { $("live-state").textContent = "live"; });
  live.addEventListener("error", () => { $("live-state").textContent = "reconnecting…"; });
})();
