// How one conversation reads: messages and private notes in time order with day separators, each message with its
// content (text with links, images, video, audio, documents, locations, contacts, orders, button replies),
// reactions, edits and their history, deletion marks, the platform it came through and, for replies, the delivery
// ticks (failed ones with the reason and a retry). Text goes in with textContent, never as HTML.
import { h } from "/static/lib.js";

export const TICKS = {
  pending: ["🕓", "waiting to be sent"],
  sent: ["✓", "sent"],
  delivered: ["✓✓", "delivered"],
  read: ["✓✓", "read"],
  played: ["✓✓", "played"],
  failed: ["⚠", "not delivered"],
};

export const PLATFORMS = {
  whatsapp: ["WA", "WhatsApp"],
  waha: ["WA", "WhatsApp (WAHA)"],
  telegram: ["TG", "Telegram"],
  messenger: ["FB", "Messenger"],
  instagram: ["IG", "Instagram"],
  tiktok: ["TT", "TikTok"],
  chotot: ["CT", "Chợ Tốt"],
};

/** A small mark naming the platform a message came through. */
export function platformBadge(platform) {
  const [short, name] = PLATFORMS[platform] || [String(platform || "?").slice(0, 2).toUpperCase(), platform];
  return h("span", { class: `platform platform-${platform}`, title: name, "aria-label": name }, short);
}

const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"']+/gi;

/** Text as nodes, its web addresses as links that open apart from the inbox (rel=noopener). */
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of String(text).matchAll(URL_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, "");  // a sentence's punctuation is not part of the address
    if (!url) continue;
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    const href = url.toLowerCase().startsWith("www.") ? `https://${url}` : url;
    out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, url));
    last = match.index + url.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function size(bytes) {
  if (bytes == null) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function dayLabel(d) {
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

// -- message content -------------------------------------------------------------------------------------------

function mediaItem(media) {
  const label = media.filename || media.caption || media.type;
  if (media.status !== "stored" || !media.url) {
    const why = media.status === "failed" ? `could not be downloaded${media.error ? `: ${media.error}` : ""}`
      : "downloading…";
    return h("p", { class: `media media-${media.status}` }, `${media.type} ${why}`);
  }
  const url = media.url;
  switch (media.type) {
    case "image":
    case "sticker":
      return h("a", { class: "media media-image", href: url, target: "_blank", rel: "noopener" },
        h("img", { src: url, alt: media.caption || media.filename || media.type, loading: "lazy" }));
    case "video":
      return h("video", { class: "media media-video", src: url, controls: true, preload: "metadata" });
    case "audio":
    case "voice":
      return h("audio", { class: "media media-audio", src: url, controls: true, preload: "metadata",
        "aria-label": media.type === "voice" ? "Voice message" : label });
    default:
      return h("a", { class: "media media-document", href: url, download: media.filename || "", title: "Download" },
        h("span", { "aria-hidden": "true" }, "📄 "),
        h("span", { class: "doc-name", dir: "auto" }, media.filename || "document"),
        h("span", { class: "doc-size muted" }, [media.mime, size(media.size)].filter(Boolean).join(" · ")));
  }
}

/** What a reply carried (an upload or a URL): its bytes went to the platform and are not kept by Souk. */
function sentMedia(kind, media) {
  const name = media.filename || (media.url ? media.url.split("/").pop() : kind);
  if (media.url && /^https?:/.test(media.url) && (kind === "image" || kind === "sticker")) {
    return h("a", { class: "media media-image", href: media.url, target: "_blank", rel: "noopener noreferrer" },
      h("img", { src: media.url, alt: name, loading: "lazy" }));
  }
  const label = [h("span", { "aria-hidden": "true" }, kind === "image" ? "🖼 " : kind === "video" ? "🎬 " : "📄 "),
    h("span", { class: "doc-name", dir: "auto" }, name),
    h("span", { class: "doc-size muted" }, [media.mime || media.mime_type, size(media.size)].filter(Boolean).join(" · "))];
  return media.url && /^https?:/.test(media.url)
    ? h("a", { class: "media media-document", href: media.url, target: "_blank", rel: "noopener noreferrer" }, label)
    : h("span", { class: "media media-document sent-file" }, label);
}

function locationBlock(loc) {
  const lat = Number(loc.latitude);
  const lon = Number(loc.longitude);
  const map = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
  return h("div", { class: "location" },
    h("span", { "aria-hidden": "true" }, "📍 "),
    loc.name ? h("strong", { dir: "auto" }, loc.name, " ") : null,
    loc.address ? h("span", { dir: "auto" }, loc.address, " ") : null,
    h("span", { class: "coords" }, `${lat.toFixed(5)}, ${lon.toFixed(5)}`),
    " ",
    h("a", { href: map, target: "_blank", rel: "noopener noreferrer" }, "Open map"));
}

function contactName(c) {
  if (typeof c.name === "string" && c.name) return c.name;
  if (c.name && typeof c.name === "object") {
    return c.name.formatted_name || [c.name.first_name, c.name.last_name].filter(Boolean).join(" ");
  }
  return [c.first_name, c.last_name].filter(Boolean).join(" ") || "Contact";
}

function contactsBlock(contacts) {
  return h("ul", { class: "contacts" }, contacts.map((c) => h("li", { class: "contact" },
    h("span", { "aria-hidden": "true" }, "👤 "),
    h("strong", { dir: "auto" }, contactName(c)),
    (c.phones || []).flatMap((p) => [" ", h("a", { href: `tel:${p.phone || p.wa_id}`, class: "phone" }, p.phone || p.wa_id)]))));
}

function orderBlock(order) {
  const items = order.product_items || order.items || [];
  const currency = items.find((i) => i.currency)?.currency || order.currency || "";
  const total = items.reduce((sum, i) => sum + Number(i.item_price || i.price || 0) * Number(i.quantity || 1), 0);
  return h("div", { class: "order" },
    h("strong", {}, "🛒 Order"),
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", {}, "Qty"), h("th", {}, "Price"))),
      h("tbody", {}, items.map((i) => h("tr", {},
        h("td", { dir: "auto" }, i.name || i.product_retailer_id || i.id || "item"),
        h("td", {}, String(i.quantity ?? 1)),
        h("td", {}, `${i.item_price ?? i.price ?? ""} ${i.currency || currency}`.trim())))),
      h("tfoot", {}, h("tr", {}, h("th", { colspan: 2 }, "Total"),
        h("td", { class: "order-total" }, `${Number(total.toFixed(2))} ${currency}`.trim())))));
}

function editHistory(m) {
  const toggle = h("button", { type: "button", class: "link edited-toggle", "aria-expanded": "false" }, "edited");
  const list = h("ol", { class: "edit-history", hidden: true },
    m.edit_history.map((e) => h("li", {},
      h("span", { class: "muted" }, e.replaced_at ? `until ${time(e.replaced_at)}: ` : ""),
      h("span", { dir: "auto" }, e.text ?? "(no text)"))));
  toggle.addEventListener("click", () => {
    list.hidden = !list.hidden;
    toggle.setAttribute("aria-expanded", String(!list.hidden));
  });
  toggle.title = `Edited ${m.edited_at ? time(m.edited_at) : ""}; show the earlier text`;
  return [toggle, list];
}

function reactionsBlock(reactions) {
  const counts = new Map();
  for (const r of reactions) counts.set(r.emoji, (counts.get(r.emoji) || 0) + 1);
  return h("ul", { class: "reactions", "aria-label": "Reactions" },
    [...counts].map(([emoji, n]) => h("li", { title: `${n} × ${emoji}` }, n > 1 ? `${emoji} ${n}` : emoji)));
}

function ticks(m) {
  const [mark, word] = TICKS[m.status] || [m.status, m.status];
  const reason = m.error_message || m.error_code || "unknown reason";
  return h("span", {
    class: `tick ${m.status}`,
    title: m.status === "failed" ? `not delivered: ${reason}` : word,
    "aria-label": m.status === "failed" ? `not delivered: ${reason}` : word,
    role: "img",
  }, mark);
}

/**
 * One message as a list item. `byExternalId` finds the quoted message of a reply; `onRetry(message)` resends a
 * failed one.
 */
export function messageItem(m, { byExternalId = new Map(), onRetry } = {}) {
  const meta = m.message_metadata || {};
  const li = h("li", {
    class: `msg ${m.direction}${m.deleted_at ? " deleted" : ""}${m.status === "failed" ? " failed" : ""}`,
    dataset: { messageId: m.id, type: m.message_type },
  });
  if (m.reply_to) {
    const quoted = byExternalId.get(m.reply_to);
    li.append(h("blockquote", { class: "quote", dir: "auto" },
      quoted ? (quoted.message_text || `[${quoted.message_type}]`).slice(0, 140) : "an earlier message"));
  }
  if (m.deleted_at) li.append(h("p", { class: "deleted-mark" }, "🚫 Deleted by the sender"));
  const sent = m.direction === "outbound" && !m.media.length && meta.media ? meta.media : null;
  const shown = m.message_text
    || (m.media.length || sent || meta.location || meta.contacts || meta.order ? "" : `[${m.message_type}]`);
  if (sent) li.append(sentMedia(m.message_type, sent));
  if (shown) li.append(h("p", { class: "text", dir: "auto" }, linkify(shown)));
  for (const media of m.media) {
    li.append(mediaItem(media));
    if (media.caption && media.caption !== m.message_text) li.append(h("p", { class: "caption", dir: "auto" }, media.caption));
  }
  if (meta.location) li.append(locationBlock(meta.location));
  if (meta.contacts?.length) li.append(contactsBlock(meta.contacts));
  if (meta.order) li.append(orderBlock(meta.order));
  if (meta.interactive && m.direction === "inbound") {
    li.append(h("p", { class: "interactive muted" }, "↩ tapped ", h("q", { dir: "auto" },
      meta.interactive.title || meta.interactive.id || meta.interactive.payload || "a button")));
  }
  const offered = m.direction === "outbound" ? meta.content?.buttons || meta.content?.options : null;
  if (Array.isArray(offered) && offered.length) {
    li.append(h("ul", { class: "offered", "aria-label": "Buttons offered" },
      offered.map((b) => h("li", { dir: "auto" }, b.url ? h("a", { href: /^https?:/.test(b.url) ? b.url : "#",
        target: "_blank", rel: "noopener noreferrer" }, b.title) : b.title))));
  }
  if (m.reactions?.length) li.append(reactionsBlock(m.reactions));

  const who = m.direction === "outbound"
    ? (meta.sender?.type === "agent" ? "AI" : meta.sender?.label || (m.sent_by !== "souk" ? m.sent_by.replace("_", " ") : ""))
    : "";
  const line = h("span", { class: "meta" },
    platformBadge(m.platform), " ",
    h("time", { datetime: m.timestamp, title: new Date(m.timestamp).toLocaleString() }, time(m.timestamp)),
    who ? h("span", { class: "who" }, ` · ${who}`) : null,
    m.edited_at ? [" · ", ...editHistory(m)] : null,
    m.direction === "outbound" ? [" ", ticks(m)] : null);
  li.append(line);

  if (m.status === "failed" && m.direction === "outbound") {
    const why = h("p", { class: "failed-reason" },
      `Not delivered: ${m.error_message || m.error_code || "unknown reason"}`);
    if (onRetry) {
      const retry = h("button", { type: "button", class: "small retry" }, "Retry");
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        const problem = await onRetry(m);
        if (problem) { why.textContent = `Could not resend: ${problem}`; why.append(" ", retry); }
        retry.disabled = false;
      });
      why.append(" ", retry);
    }
    li.append(why);
  }
  return li;
}

/** A private note: marked as such, never sent to the customer. */
export function noteItem(n) {
  return h("li", { class: "note", dataset: { noteId: n.id } },
    h("p", { class: "note-head" },
      h("span", { "aria-hidden": "true" }, "🔒 "),
      h("strong", {}, "Private note"),
      h("span", { class: "muted" }, ` · ${n.author_label} · `),
      h("time", { datetime: n.created_at }, time(n.created_at))),
    h("p", { class: "text", dir: "auto" }, linkify(n.body)));
}

/** The thread's items: messages and notes in time order, a separator at each new day. */
export function threadItems(messages, notes, options) {
  const entries = [
    ...messages.map((m) => ({ at: new Date(m.timestamp), node: () => messageItem(m, options) })),
    ...notes.map((n) => ({ at: new Date(n.created_at), node: () => noteItem(n) })),
  ].sort((a, b) => a.at - b.at);
  const out = [];
  let day = null;
  for (const e of entries) {
    const d = e.at.toDateString();
    if (d !== day) {
      day = d;
      out.push(h("li", { class: "day", role: "separator" }, h("span", {}, dayLabel(e.at))));
    }
    out.push(e.node());
  }
  return out;
}
