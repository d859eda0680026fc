// Customers (leads): a filtered list (search, lead stage, label, channel, score), one customer's detail (identities
// per channel, lead fields, score and its reasons, orders, activities, merges), merge proposals, a manual merge of two
// customers after a confirmation, and undoing a merge.
import { api, h, showProblem, clearProblem, formValues, when } from "/static/lib.js";
import { field, select, table, pager, money, query, setQuery, statusLine, bar, short } from "/static/pages/commerce-kit.js";

const root = document.getElementById("page-root");
const LIMIT = 25;
let loads = 0;  // the latest list or detail request; older answers are dropped
const FILTERS = ["q", "stage", "label", "channel", "score_min", "include_merged"];
let settings = { lead_stages: [], labels: [], customer_types: [] };
let channels = [];
const selected = new Map();

const notice = statusLine("notice");
const main = h("div", { id: "customers-main" });
root.replaceChildren(notice, main);

const nameOf = (c) =>
  c.display_name || [c.first_name, c.last_name].filter(Boolean).join(" ") || c.phone_number || c.psid || `Customer ${short(c.id)}`;
const stageLabel = (s) => (s || "").replaceAll("_", " ").toLowerCase().replace(/^\w/, (x) => x.toUpperCase());

init();

async function init() {
  const [s, ch] = await Promise.all([api("GET", "/api/v1/crm/settings"), api("GET", "/api/v1/channels?limit=100")]);
  if (s.ok) settings = s.data;
  if (ch.ok) channels = ch.data.items || [];
  route();
  window.addEventListener("popstate", route);
}

function route() {
  const q = query();
  if (q.id) showCustomer(q.id);
  else showList(q);
}

function say(text, error = false, ...extra) {
  notice.replaceChildren(text, ...extra);
  notice.classList.toggle("error", error);
}

// -- the list ----------------------------------------------------------------------------------------------------

function filterForm(q) {
  const platforms = [...new Set(channels.map((c) => c.channel_type))].sort();
  const form = h(
    "form",
    { id: "customer-filters", class: "filters", role: "search", "aria-label": "Customers" },
    field("Search", h("input", { type: "search", name: "q", value: q.q || "", placeholder: "Name, phone, username, id" })),
    field("Lead stage", select("stage", [["", "Any stage"], ...settings.lead_stages.map((s) => [s, stageLabel(s)])], q.stage)),
    field("Label", select("label", [["", "Any label"], ...settings.labels.map((l) => [l, l])], q.label)),
    field(
      "Channel",
      select("channel", [["", "Any channel"], ...platforms.map((p) => [p, `All ${p}`]), ...channels.map((c) => [c.id, `${c.name} (${c.channel_type})`])], q.channel),
    ),
    field("Lowest score", h("input", { type: "number", name: "score_min", value: q.score_min || "", min: 0, inputmode: "numeric" })),
    field("Include merged", h("input", { type: "checkbox", name: "include_merged", checked: q.include_merged === "true" })),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const values = formValues(form);
    if (!values.include_merged) delete values.include_merged;
    selected.clear();
    setQuery(values);
    showList(query());
  });
  return form;
}

async function showList(q) {
  const seq = ++loads;
  const page = Number(q.page) || 1;
  const params = new URLSearchParams({ page, limit: LIMIT });
  for (const k of FILTERS) if (q[k]) params.set(k, q[k]);
  const exportParams = new URLSearchParams(params);
  exportParams.delete("page");
  exportParams.delete("limit");
  const listSlot = h("div", { id: "customer-list", "aria-busy": "true" });
  const proposals = h("section", { id: "merge-proposals", class: "panel", "aria-labelledby": "proposals-title" });
  const mergeBox = h("div", { id: "merge-selected", class: "panel", hidden: true });
  main.replaceChildren(
    filterForm(q),
    bar("Customers", h("a", { href: `/api/v1/customers/export.csv?${exportParams}`, download: "customers.csv" }, "Export CSV")),
    mergeBox,
    listSlot,
    proposals,
  );
  loadProposals(proposals);
  const r = await api("GET", `/api/v1/customers?${params}`);
  if (seq !== loads) return;  // a newer filter answered or will answer
  listSlot.removeAttribute("aria-busy");
  if (!r.ok) { listSlot.replaceChildren(h("p", { class: "form-error", role: "alert" }, r.data.detail || "Could not load customers.")); return; }
  const { items, total } = r.data;
  listSlot.dataset.total = total;
  if (!items.length) { listSlot.replaceChildren(h("p", { class: "muted empty" }, "No customer matches these filters.")); return; }
  const rows = items.map((c) => {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${nameOf(c)}`, checked: selected.has(c.id), disabled: !!c.merged_into_id });
    const tr = h(
      "tr",
      { dataset: { customerId: c.id }, class: selected.has(c.id) ? "selected" : "" },
      h("td", {}, box),
      h("td", { "data-label": "Name" }, h("a", { href: `?id=${c.id}`, onclick: (e) => { e.preventDefault(); open(c.id); } }, nameOf(c)),
        c.merged_into_id ? h("span", { class: "badge off" }, "Merged") : ""),
      h("td", { "data-label": "Channel" }, c.platform),
      h("td", { "data-label": "Phone" }, c.phone_number || ""),
      h("td", { "data-label": "Stage" }, stageLabel(c.lead_stage)),
      h("td", { "data-label": "Label" }, c.customer_label || ""),
      h("td", { "data-label": "Score", class: "num" }, String(c.lead_score)),
      h("td", { "data-label": "Last message" }, when(c.last_message_at)),
    );
    box.addEventListener("change", () => {
      if (box.checked) selected.set(c.id, c); else selected.delete(c.id);
      tr.classList.toggle("selected", box.checked);
      renderMergeBox(mergeBox);
    });
    return tr;
  });
  listSlot.replaceChildren(
    table("Customers", ["Select", "Name", "Channel", "Phone", "Stage", "Label", "Score", "Last message"], rows, { class: "data stack", id: "customers-table" }),
    pager({ page, limit: LIMIT, total }, "customers", (p) => { setQuery({ ...q, page: p }); showList({ ...q, page: p }); }),
  );
  renderMergeBox(mergeBox);
}

function open(id) {
  setQuery({ id });
  showCustomer(id);
}

/** With two customers selected: choose the one to keep, then merge the other into it. */
function renderMergeBox(box) {
  const picked = [...selected.values()];
  box.hidden = picked.length === 0;
  if (!picked.length) { box.replaceChildren(); return; }
  if (picked.length !== 2) {
    box.replaceChildren(h("p", {}, `${picked.length} selected. Select exactly two customers to merge them.`),
      h("button", { type: "button", class: "secondary small", onclick: () => { selected.clear(); route(); } }, "Clear selection"));
    return;
  }
  const radios = picked.map((c, i) =>
    field(`Keep ${nameOf(c)}`, h("input", { type: "radio", name: "keep", value: c.id, checked: i === 0 })));
  const form = h(
    "form",
    { id: "merge-form" },
    h("fieldset", {}, h("legend", {}, "Merge two customers: which one stays?"), ...radios),
    h("p", { class: "muted" }, "The other one's identities, conversations, orders and activities move to the one you keep. A merge can be undone."),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Merge"),
      h("button", { type: "button", class: "secondary", onclick: () => { selected.clear(); route(); } }, "Cancel")),
    h("p", { class: "form-error", role: "alert" }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const keep = picked.find((c) => c.id === form.elements.keep.value);
    const gone = picked.find((c) => c !== keep);
    const r = await merge(keep, gone);
    if (!r) return;
    if (!r.ok) { showProblem(form, r); return; }
    selected.clear();
    route();
  });
  box.replaceChildren(form);
}

/** Confirm, merge `gone` into `keep`, and offer to undo; resolves to the API answer (or null when not confirmed). */
async function merge(keep, gone) {
  if (!window.confirm(`Merge “${nameOf(gone)}” into “${nameOf(keep)}”? ${nameOf(gone)}'s conversations, orders and identities move to ${nameOf(keep)}.`)) return null;
  const r = await api("POST", `/api/v1/customers/${keep.id}/merge`, { other_id: gone.id });
  if (r.ok) {
    say(`Merged “${nameOf(gone)}” into “${nameOf(keep)}”. `, false,
      h("button", { type: "button", class: "secondary small", onclick: () => undo(keep, r.data.id) }, "Undo"));
  }
  return r;
}

async function undo(customer, mergeId) {
  if (!window.confirm(`Undo this merge into “${nameOf(customer)}”? The merged customer gets back what it brought.`)) return;
  const r = await api("POST", `/api/v1/customers/${customer.id}/unmerge`, { merge_id: mergeId });
  if (!r.ok) { say(r.data.detail || "Could not undo the merge.", true); return; }
  say(`Merge undone: ${nameOf(customer)} and the restored customer are apart again.`);
  route();
}

async function loadProposals(section) {
  const r = await api("GET", "/api/v1/customers/merge-proposals?limit=20");
  section.replaceChildren(h("h2", { id: "proposals-title" }, "Merge proposals"));
  if (!r.ok || !r.data.items.length) { section.append(h("p", { class: "muted" }, "No customers share a phone number right now.")); return; }
  const people = new Map();
  const ids = [...new Set(r.data.items.flatMap((p) => [p.customer_id, p.other_id]))];
  await Promise.all(ids.map(async (id) => { const c = await api("GET", `/api/v1/customers/${id}`); if (c.ok) people.set(id, c.data); }));
  const list = h("ul", { class: "proposals" });
  for (const p of r.data.items) {
    const a = people.get(p.customer_id), b = people.get(p.other_id);
    if (!a || !b) continue;
    list.append(h(
      "li",
      { dataset: { proposalId: p.id } },
      h("span", {}, h("strong", {}, nameOf(a)), " and ", h("strong", {}, nameOf(b)), ` share ${p.phone}`),
      h("button", { type: "button", class: "small", onclick: async () => {
        const m = await merge(a, b);
        if (m && !m.ok) say(m.data.detail || "Could not merge.", true);
        if (m && m.ok) route();
      } }, `Merge ${nameOf(b)} into ${nameOf(a)}`),
      h("button", { type: "button", class: "secondary small", onclick: async () => {
        const d = await api("POST", `/api/v1/customers/merge-proposals/${p.id}/dismiss`);
        if (d.ok) { say("Proposal dismissed: they stay apart."); loadProposals(section); }
      } }, "Keep apart"),
    ));
  }
  section.append(list);
}

// -- one customer ------------------------------------------------------------------------------------------------

async function showCustomer(id) {
  const back = h("p", { class: "back" }, h("a", { href: location.pathname, onclick: (e) => { e.preventDefault(); setQuery({}); showList({}); } }, "← All customers"));
  const seq = ++loads;
  const r = await api("GET", `/api/v1/customers/${id}`);
  if (seq !== loads) return;
  if (!r.ok) { main.replaceChildren(back, h("p", { class: "form-error", role: "alert" }, r.data.detail || "No such customer.")); return; }
  const c = r.data;
  const scoreSlot = h("section", { class: "panel", id: "customer-score", "aria-labelledby": "score-title" }, h("h2", { id: "score-title" }, "Score"));
  const ordersSlot = h("section", { class: "panel", id: "customer-orders", "aria-labelledby": "orders-title" }, h("h2", { id: "orders-title" }, "Orders"));
  main.replaceChildren(
    back,
    h("h2", { id: "customer-name", tabindex: "-1" }, nameOf(c)),
    c.merged_into_id
      ? h("p", { class: "notice" }, "This customer was merged into ", h("a", { href: `?id=${c.merged_into_id}`, onclick: (e) => { e.preventDefault(); open(c.merged_into_id); } }, "another customer"), ".")
      : "",
    h("div", { class: "detail", id: "customer-detail", dataset: { customerId: c.id } },
      leadPanel(c),
      identitiesPanel(c),
      scoreSlot,
      ordersSlot,
      activitiesPanel(c),
      mergesPanel(c),
    ),
  );
  document.getElementById("customer-name").focus();
  loadScore(c, scoreSlot);
  loadOrders(c, ordersSlot);
}

function leadPanel(c) {
  const form = h(
    "form",
    { id: "lead-form" },
    h("dl", { class: "facts" },
      h("dt", {}, "Channel"), h("dd", {}, c.platform),
      h("dt", {}, "Phone"), h("dd", {}, c.phone_number || "—"),
      h("dt", {}, "Region"), h("dd", {}, c.governorate || "—"),
      h("dt", {}, "Since"), h("dd", {}, when(c.created_at)),
      h("dt", {}, "Last message"), h("dd", {}, when(c.last_message_at) || "—"),
      h("dt", {}, "Conversations"), h("dd", {}, String(c.conversation_count)),
    ),
    h("div", { class: "grid" },
      field("Lead stage", select("lead_stage", settings.lead_stages.map((s) => [s, stageLabel(s)]), c.lead_stage)),
      field("Label", select("customer_label", [["", "No label"], ...settings.labels.map((l) => [l, l])], c.customer_label || "")),
      field("Type", select("customer_type", [["", "No type"], ...settings.customer_types.map((t) => [t, t])], c.customer_type || "")),
      field("Reason (kept on the activity)", h("input", { name: "reason" })),
    ),
    h("p", { class: "form-error", role: "alert" }),
    h("button", { type: "submit" }, "Save"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblem(form);
    const v = formValues(form);
    const body = { lead_stage: v.lead_stage, customer_label: v.customer_label || null, customer_type: v.customer_type || null };
    if (v.reason) body.reason = v.reason;
    const r = await api("PATCH", `/api/v1/customers/${c.id}`, body);
    if (!r.ok) { showProblem(form, r); return; }
    say(`Saved ${nameOf(r.data)}.`);
    showCustomer(c.id);
  });
  return h("section", { class: "panel", "aria-labelledby": "lead-title" }, h("h2", { id: "lead-title" }, "Lead"), form);
}

function identitiesPanel(c) {
  const rows = c.identities.map((i) => [
    i.platform,
    i.channel ? i.channel.name : "—",
    i.display_name || "",
    i.username ? `@${i.username}` : "",
    i.phone || "",
    h("code", {}, i.external_id),
  ]);
  return h(
    "section",
    { class: "panel", id: "customer-identities", "aria-labelledby": "identities-title" },
    h("h2", { id: "identities-title" }, "Identities per channel"),
    rows.length ? table("Identities", ["Platform", "Channel", "Name", "Username", "Phone", "Platform id"], rows) : h("p", { class: "muted" }, "No channel identity."),
  );
}

async function loadScore(c, slot) {
  const r = await api("GET", `/api/v1/customers/${c.id}/score`);
  if (!r.ok) { slot.append(h("p", { class: "muted" }, "The score cannot be explained right now.")); return; }
  const s = r.data;
  slot.append(
    h("p", {}, h("strong", { class: "score" }, String(s.lead_score)), s.computed !== s.lead_score ? h("span", { class: "muted" }, ` (the rules give ${s.computed} now)`) : "",
      " · ", stageLabel(s.lead_stage)),
    s.reasons.length ? h("ul", { class: "reasons" }, s.reasons.map((x) => h("li", {}, x))) : h("p", { class: "muted" }, "No scoring rule fires."),
  );
}

async function loadOrders(c, slot) {
  const [list, stats] = await Promise.all([
    api("GET", `/api/v1/customers/${c.id}/orders?limit=10`),
    api("GET", `/api/v1/customers/${c.id}/order-stats`),
  ]);
  if (stats.ok && stats.data.total_orders) {
    slot.append(h("p", {}, `${stats.data.total_orders} order${stats.data.total_orders > 1 ? "s" : ""}, ${money(stats.data.total_spent, stats.data.currency)} spent, last ${when(stats.data.last_order)}`));
  }
  if (!list.ok || !list.data.items.length) { slot.append(h("p", { class: "muted" }, "No orders yet.")); return; }
  slot.append(table("Orders", ["Order", "Placed", "Total", "Status"], list.data.items.map((o) => [
    h("a", { href: `/orders?id=${o.id}` }, `#${short(o.id)}`),
    when(o.created_at),
    money(o.total_price, o.currency),
    h("span", { class: `status ${o.status}` }, o.status),
  ])));
}

function activitiesPanel(c) {
  const describe = (a) => {
    const brief = (v) => (v ?? "—").replace(/\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "$1");
    const change = a.old_value || a.new_value ? `: ${brief(a.old_value)} → ${brief(a.new_value)}` : "";
    return `${a.activity_type.replaceAll("_", " ")}${change}`;
  };
  return h(
    "section",
    { class: "panel", id: "customer-activities", "aria-labelledby": "activities-title" },
    h("h2", { id: "activities-title" }, "Activities"),
    c.activities.length
      ? h("ol", { class: "activities" }, c.activities.map((a) => h("li", {}, h("span", {}, describe(a)),
        h("small", { class: "muted" }, ` · ${when(a.timestamp)}${a.actor ? ` · ${a.actor}` : a.automated ? " · automatic" : ""}${a.reason ? ` · ${a.reason}` : ""}`))))
      : h("p", { class: "muted" }, "No activity yet."),
  );
}

function mergesPanel(c) {
  const section = h("section", { class: "panel", id: "customer-merges", "aria-labelledby": "merges-title" }, h("h2", { id: "merges-title" }, "Merges"));
  const active = c.merges.filter((m) => !m.undone_at);
  if (c.merges.length) {
    section.append(h("ul", { class: "proposals" }, c.merges.map((m) => h(
      "li",
      { dataset: { mergeId: m.id } },
      h("span", {}, `Customer ${short(m.merged_id)} merged ${when(m.merged_at)} (${m.reason}${m.merged_by ? `, ${m.merged_by}` : ""})`),
      m.undone_at ? h("span", { class: "muted" }, `undone ${when(m.undone_at)}`)
        : h("button", { type: "button", class: "secondary small", onclick: () => undo(c, m.id) }, "Undo merge"),
    ))));
  } else {
    section.append(h("p", { class: "muted" }, "Nothing was merged into this customer."));
  }
  if (c.merged_into_id) return section;
  // a manual merge: find the other customer, then merge it into this one
  const results = h("ul", { class: "proposals", id: "merge-candidates", "aria-live": "polite" });
  const search = h("input", { type: "search", name: "q", placeholder: "Name, phone, username" });
  const form = h(
    "form",
    { class: "merge-box", role: "search" },
    field("Find a customer to merge into this one", search),
    h("button", { type: "submit", class: "secondary" }, "Find"),
    results,
    h("p", { class: "form-error", role: "alert" }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = search.value.trim();
    if (!q) return;
    const r = await api("GET", `/api/v1/customers?${new URLSearchParams({ q, limit: 10 })}`);
    const others = r.ok ? r.data.items.filter((o) => o.id !== c.id) : [];
    results.replaceChildren(...(others.length ? others.map((o) => h("li", {},
      h("span", {}, `${nameOf(o)} · ${o.platform}${o.phone_number ? ` · ${o.phone_number}` : ""}`),
      h("button", { type: "button", class: "small", onclick: async () => {
        const m = await merge(c, o);
        if (m && !m.ok) showProblem(form, m);
        if (m && m.ok) showCustomer(c.id);
      } }, `Merge ${nameOf(o)} into ${nameOf(c)}`))) : [h("li", { class: "muted" }, "No other customer matches.")]));
  });
  section.append(form);
  if (active.length) section.dataset.merged = String(active.length);
  return section;
}
