// Orders: a list filtered by status, one order's detail (items, customer, totals), and status changes: a button for
// each move the order allows now, plus any other status for the rare case, where the API's refusal is shown as is.
import { api, h, showProblem, clearProblem, when } from "/static/lib.js";
import { field, select, table, pager, money, query, setQuery, statusLine, short } from "/static/pages/commerce-kit.js";

const root = document.getElementById("page-root");
const LIMIT = 20;
let loads = 0;  // the latest list or detail request; older answers are dropped
const STATUSES = ["pending", "confirmed", "paid", "shipped", "delivered", "cancelled", "refunded"];
const LABEL = { confirmed: "Confirm", paid: "Mark paid", shipped: "Mark shipped", delivered: "Mark delivered", cancelled: "Cancel order", refunded: "Refund" };
const state = { status: "", page: 1, id: "" };

const notice = statusLine("notice");
const filterForm = filters();
const main = h("div", { id: "orders-main" });
root.replaceChildren(notice, filterForm, main);
route();
window.addEventListener("popstate", route);

function route() {
  const q = query();
  Object.assign(state, { status: q.status || "", page: Number(q.page) || 1, id: q.id || "" });
  filterForm.elements.status.value = state.status;
  filterForm.hidden = !!state.id;
  if (state.id) showOrder(state.id); else list();
}

function go(changes) {
  notice.textContent = "";
  Object.assign(state, changes);
  setQuery({ status: state.status, page: state.page > 1 ? state.page : "", id: state.id });
  route();
}

function badge(status) {
  return h("span", { class: `status ${status}` }, status);
}

function filters() {
  const status = select("status", [["", "All orders"], ...STATUSES.map((s) => [s, s[0].toUpperCase() + s.slice(1)])], state.status);
  status.addEventListener("change", () => go({ status: status.value, page: 1, id: "" }));
  return h("form", { class: "filters", "aria-label": "Filter orders", onsubmit: (e) => e.preventDefault() }, field("Status", status));
}

async function list() {
  const seq = ++loads;
  const params = new URLSearchParams({ page: state.page, limit: LIMIT });
  if (state.status) params.set("status", state.status);
  const r = await api("GET", `/api/v1/orders?${params}`);
  if (seq !== loads) return;  // a newer filter answered or will answer
  if (!r.ok) { main.replaceChildren(h("p", { class: "form-error", role: "alert" }, r.data.detail || "Could not load orders.")); return; }
  const { items, total } = r.data;
  if (!items.length) { main.replaceChildren(h("p", { class: "muted empty", id: "orders-table" }, state.status ? `No ${state.status} orders.` : "No orders yet.")); return; }
  const rows = items.map((o) =>
    h(
      "tr",
      { dataset: { orderId: o.id } },
      h("td", { "data-label": "Order" }, h("a", { href: `?id=${o.id}`, onclick: (e) => { e.preventDefault(); go({ id: o.id }); } }, `#${short(o.id)}`)),
      h("td", { "data-label": "Placed" }, when(o.created_at)),
      h("td", { "data-label": "Customer" }, o.customer_id ? customerName(o.customer_id) : "—"),
      h("td", { "data-label": "Items", class: "num" }, String(o.items.reduce((n, i) => n + i.quantity, 0))),
      h("td", { "data-label": "Total", class: "num" }, money(o.total_price, o.currency)),
      h("td", { "data-label": "Status" }, badge(o.status)),
    ),
  );
  main.replaceChildren(
    table("Orders", ["Order", "Placed", "Customer", "Items", "Total", "Status"], rows, { class: "data stack", id: "orders-table", dataset: { filter: state.status || "all", page: state.page } }),
    pager({ page: state.page, limit: LIMIT, total }, "orders", (page) => go({ page })),
  );
}

const names = new Map();
/** The customer's name when the id is a Souk customer, else the legacy identifier as written. */
function customerName(id) {
  const span = h("span", {}, id.length === 36 ? `Customer ${short(id)}` : id);
  if (id.length !== 36) return span;
  if (!names.has(id)) names.set(id, api("GET", `/api/v1/customers/${id}`).then((r) => (r.ok ? r.data.display_name || [r.data.first_name, r.data.last_name].filter(Boolean).join(" ") : null)));
  names.get(id).then((name) => { if (name) span.textContent = name; });
  return span;
}

async function showOrder(id) {
  const seq = ++loads;
  const r = await api("GET", `/api/v1/orders/${id}`);
  if (seq !== loads) return;
  const back = h("p", { class: "back" }, h("a", { href: location.pathname, onclick: (e) => { e.preventDefault(); go({ id: "" }); } }, "← All orders"));
  if (!r.ok) { main.replaceChildren(back, h("p", { class: "form-error", role: "alert" }, r.data.detail || "No such order.")); return; }
  render(r.data, back);
  document.getElementById("order-title").focus();
}

function render(o, back) {
  const items = o.items.map((i) => [
    i.product_name,
    h("span", { class: "num" }, String(i.quantity)),
    money(i.unit_price, o.currency),
    money((Number(i.unit_price) * i.quantity).toFixed(String(i.unit_price).split(".")[1]?.length || 0), o.currency),
  ]);
  const address = o.shipping_address ? Object.entries(o.shipping_address).map(([k, v]) => `${k}: ${v}`).join(", ") : "";
  const customer = o.customer_id && o.customer_id.length === 36
    ? h("a", { href: `/customers?id=${o.customer_id}` }, customerName(o.customer_id))
    : o.customer_id || o.instagram_user || "—";
  main.replaceChildren(
    back,
    h(
      "article",
      { id: "order-detail", class: "detail", dataset: { status: o.status } },
      h(
        "section",
        { class: "panel", "aria-labelledby": "order-title" },
        h("h2", { id: "order-title", tabindex: "-1" }, `Order #${short(o.id)} `, badge(o.status)),
        h("dl", { class: "facts" },
          h("dt", {}, "Customer"), h("dd", {}, customer),
          h("dt", {}, "Placed"), h("dd", {}, when(o.created_at)),
          h("dt", {}, "Updated"), h("dd", {}, when(o.updated_at)),
          o.channel_type ? [h("dt", {}, "Channel"), h("dd", {}, o.channel_type)] : "",
          address ? [h("dt", {}, "Ship to"), h("dd", {}, address)] : "",
          o.notes ? [h("dt", {}, "Notes"), h("dd", {}, o.notes)] : "",
          o.conversation_id ? [h("dt", {}, "Conversation"), h("dd", {}, h("a", { href: `/inbox?conversation=${o.conversation_id}` }, "Open in the inbox"))] : "",
        ),
        h("h3", {}, "Items"),
        table("Order items", ["Product", "Quantity", "Unit price", "Line total"], items, { id: "order-items" }),
        h("p", { class: "total" }, h("strong", {}, "Total: "), h("span", { id: "order-total" }, money(o.total_price, o.currency))),
      ),
      statusPanel(o),
    ),
  );
}

function statusPanel(o) {
  const form = h("form", { id: "status-form", class: "panel", "aria-labelledby": "status-title" });
  const notify = h("input", { type: "checkbox", name: "notify" });
  const move = async (status) => {
    clearProblem(form);
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    const r = await api("POST", `/api/v1/orders/${o.id}/status`, { status, notify: notify.checked });
    for (const b of form.querySelectorAll("button")) b.disabled = false;
    if (!r.ok) { showProblem(form, r); return; }
    const sent = r.data.notification;
    notice.textContent = `Order #${short(o.id)} is now ${r.data.status}.` +
      (sent ? (sent.queued ? " The customer was told." : ` The customer was not told: ${sent.reason || "no conversation"}.`) : "");
    render(r.data, main.querySelector(".back"));
    document.getElementById("status-title").focus();
  };
  const next = o.next_statuses || [];
  const other = select("new_status", STATUSES.filter((s) => s !== o.status));
  form.append(
    h("h2", { id: "status-title", tabindex: "-1" }, "Status"),
    next.length
      ? h("div", { class: "actions", id: "next-statuses" },
        next.map((s) => h("button", { type: "button", class: s === "cancelled" || s === "refunded" ? "danger" : "", dataset: { status: s }, onclick: () => move(s) }, LABEL[s] || s)))
      : h("p", { class: "muted" }, `A ${o.status} order is final.`),
    field("Tell the customer in their conversation", notify),
    h("details", {},
      h("summary", {}, "Set another status"),
      h("div", { class: "actions" }, field("New status", other), h("button", { type: "button", class: "secondary", id: "set-status", onclick: () => move(other.value) }, "Set status"))),
    h("p", { class: "form-error", role: "alert" }),
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  return form;
}
