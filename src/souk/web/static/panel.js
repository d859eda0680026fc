// The customer panel beside the open conversation: who the customer is on each channel, their lead stage, labels,
// score and why, orders, recent activities, and where they came from (an ad, a post). Read from the public API when
// the open conversation's customer changes.
import { api, h, when } from "./lib.js";

const panel = document.getElementById("customer-panel");
let current = { customer: null, conversation: null, at: 0 };
const STALE_MS = 15_000;  // the thread reloads on every live event; the panel reads again at most this often

function section(title, id, ...body) {
  return h("section", { class: "panel-section", "aria-labelledby": id },
    h("h3", { id }, title), ...body);
}

function nameOf(c) {
  return c.display_name || [c.first_name, c.last_name].filter(Boolean).join(" ") || c.phone_number || "Customer";
}

function money(amount, currency) {
  const n = Number(amount);
  if (!Number.isFinite(n)) return `${amount} ${currency || ""}`.trim();
  try { return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(n); }
  catch { return `${n.toFixed(2)} ${currency || ""}`.trim(); }
}

const ok = (r) => (r && r.ok ? r.data : null);

async function attribution(conversationId) {
  const r = await api("GET", `/api/v1/conversations/${conversationId}/messages?limit=50`);
  const first = ok(r)?.items.find((m) => m.direction === "inbound"
    && (m.ad_id || m.post_id || (m.message_source && m.message_source !== "direct_message") || m.referral_source));
  if (!first) return null;
  let name = null;
  if (first.ad_id) name = ok(await api("GET", `/api/v1/ad-campaigns/${first.ad_id}`));
  else if (first.post_id) name = ok(await api("GET", `/api/v1/posts/${first.post_id}`));
  return { message: first, target: name };
}

function renderAttribution(a) {
  if (!a) return h("p", { class: "muted" }, "A direct message (no ad or post).");
  const m = a.message;
  const kind = m.ad_id ? "Ad" : m.post_id ? "Post" : (m.message_source || "").replaceAll("_", " ");
  const what = a.target ? (a.target.campaign_name || a.target.name || a.target.post_content
    || a.target.facebook_ad_id || a.target.facebook_post_id) : null;
  return h("p", { dir: "auto" }, `${kind}${what ? `: ${String(what).slice(0, 80)}` : ""}`,
    m.referral_source ? h("span", { class: "muted" }, ` · via ${m.referral_source}`) : null,
    h("span", { class: "muted" }, ` · ${when(m.timestamp)}`));
}

async function show(conversation) {
  const id = conversation.customer_id;
  current = { customer: id, conversation: conversation.id, at: Date.now() };
  panel.hidden = false;
  panel.setAttribute("aria-busy", "true");
  const [detail, score, labels, orders, stats, source] = await Promise.all([
    api("GET", `/api/v1/customers/${id}`),
    api("GET", `/api/v1/customers/${id}/score`),
    api("GET", `/api/v1/customers/${id}/labels`),
    api("GET", `/api/v1/customers/${id}/orders?limit=5`),
    api("GET", `/api/v1/customers/${id}/order-stats`),
    attribution(conversation.id),
  ]);
  if (current.customer !== id) return;  // another conversation opened meanwhile
  panel.removeAttribute("aria-busy");
  const c = ok(detail);
  if (!c) {
    panel.replaceChildren(h("p", { class: "form-error", role: "alert" },
      detail.data.detail || "The customer could not be read."));
    return;
  }
  const sc = ok(score);
  const ord = ok(orders);
  const st = ok(stats);
  const tags = ok(labels)?.labels || [];
  panel.dataset.customerId = id;
  panel.replaceChildren(
    h("header", { class: "panel-head" },
      h("h2", { dir: "auto", id: "customer-name" }, nameOf(c)),
      c.phone_number ? h("p", { class: "muted", dir: "ltr" }, c.phone_number) : null),
    section("Channels", "panel-identities", h("ul", { class: "identities" }, c.identities.map((i) =>
      h("li", { dir: "auto", dataset: { platform: i.platform } },
        h("strong", {}, i.channel ? i.channel.name : i.platform),
        h("span", { class: "muted" }, ` ${i.platform}`),
        h("br"),
        [i.display_name, i.username ? `@${i.username}` : null, i.phone, `id ${i.external_id}`]
          .filter(Boolean).join(" · "))))),
    section("Lead", "panel-lead",
      h("dl", { class: "facts" },
        h("dt", {}, "Stage"), h("dd", { id: "lead-stage" }, c.lead_stage),
        c.customer_label ? [h("dt", {}, "Label"), h("dd", {}, c.customer_label)] : null,
        c.customer_type ? [h("dt", {}, "Type"), h("dd", {}, c.customer_type)] : null,
        h("dt", {}, "Score"), h("dd", { id: "lead-score" }, String(c.lead_score),
          sc && sc.computed !== c.lead_score ? h("span", { class: "muted" }, ` (rules now give ${sc.computed})`) : null),
        h("dt", {}, "Conversations"), h("dd", {}, String(c.conversation_count))),
      sc && sc.reasons.length
        ? h("ul", { class: "reasons", "aria-label": "Why this score" }, sc.reasons.map((r) => h("li", {}, r)))
        : h("p", { class: "muted" }, "No scoring rule fires."),
      tags.length ? h("ul", { class: "chips", "aria-label": "Customer labels" },
        tags.map((t) => h("li", { class: "chip", dir: "auto" }, t))) : null),
    section("Orders", "panel-orders",
      st && st.total_orders
        ? h("p", {}, `${st.total_orders} order${st.total_orders === 1 ? "" : "s"} · ${money(st.total_spent, st.currency)}`
          + (st.last_order ? ` · last ${when(st.last_order)}` : ""))
        : h("p", { class: "muted" }, "No orders yet."),
      ord && ord.items.length ? h("ul", { class: "orders" }, ord.items.map((o) =>
        h("li", { dataset: { orderId: o.id } },
          h("span", { class: `order-status ${o.status}` }, o.status), " ",
          money(o.total_price, o.currency), " ",
          h("span", { class: "muted" }, `· ${o.items.length} item${o.items.length === 1 ? "" : "s"} · ${when(o.created_at)}`))))
        : null),
    section("Activity", "panel-activities",
      c.activities.length ? h("ol", { class: "activities" }, c.activities.slice(0, 8).map((a) =>
        h("li", {}, a.activity_type.replaceAll("_", " "),
          a.new_value ? `: ${a.old_value ? `${a.old_value} → ` : ""}${a.new_value}` : "",
          h("span", { class: "muted" }, ` · ${when(a.timestamp)}${a.automated ? " · automatic" : ""}`))))
        : h("p", { class: "muted" }, "Nothing yet.")),
    section("Came from", "panel-attribution", renderAttribution(source)),
  );
}

document.addEventListener("souk:conversation", (e) => {
  const c = e.detail;
  const same = current.customer === c.customer_id && current.conversation === c.id;
  if (same && Date.now() - current.at < STALE_MS) return;
  show(c);
});
