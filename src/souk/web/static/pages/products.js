// Products: search and page through the catalog, create and edit (field errors next to the field), delete after a
// confirmation, and import a CSV or JSON file in the background with a progress bar and a per-row error report.
import { api, h, showProblem, clearProblem, saveForm, formValues, follow } from "/static/lib.js";
import { field, table, pager, money, query, setQuery, statusLine, listOf, textOf, bar } from "/static/pages/commerce-kit.js";

const root = document.getElementById("page-root");
const LIMIT = 20;
let loads = 0;  // the latest list or detail request; older answers are dropped
const state = { q: "", page: 1, inactive: false, ...pick(query()) };

function pick(q) {
  return { q: q.q || "", page: Number(q.page) || 1, inactive: q.inactive === "1" };
}

const listSlot = h("div", { id: "product-list" });
const editor = h("section", { id: "product-editor", class: "panel", hidden: true, "aria-labelledby": "product-editor-title" });
const importer = importSection();
const notice = statusLine("notice");

root.replaceChildren(
  notice,
  searchForm(),
  bar("Catalog", h("button", { type: "button", id: "new-product", onclick: () => openEditor(null) }, "New product")),
  editor,
  listSlot,
  importer,
);
load();
window.addEventListener("popstate", () => { Object.assign(state, pick(query())); load(); });

function searchForm() {
  const q = h("input", { type: "search", name: "q", value: state.q, placeholder: "Name, SKU, description, any language" });
  const inactive = h("input", { type: "checkbox", name: "inactive", checked: state.inactive });
  return h(
    "form",
    {
      class: "filters", role: "search", "aria-label": "Products",
      onsubmit: (e) => {
        e.preventDefault();
        Object.assign(state, { q: q.value.trim(), inactive: inactive.checked, page: 1 });
        load(true);
      },
    },
    field("Search products", q),
    field("Include inactive", inactive),
    h("button", { type: "submit" }, "Search"),
  );
}

async function load(push = false) {
  const seq = ++loads;
  setQuery({ q: state.q, page: state.page > 1 ? state.page : "", inactive: state.inactive ? "1" : "" }, !push);
  const params = new URLSearchParams({ page: state.page, limit: LIMIT });
  if (state.q) params.set("q", state.q);
  if (state.inactive) params.set("include_inactive", "true");
  const r = await api("GET", `/api/v1/products?${params}`);
  if (seq !== loads) return;  // a newer search answered or will answer
  if (!r.ok) { listSlot.replaceChildren(h("p", { class: "form-error", role: "alert" }, r.data.detail || "Could not load products.")); return; }
  const { items, total } = r.data;
  Object.assign(listSlot.dataset, { q: state.q, page: state.page, total });
  if (!items.length) {
    listSlot.replaceChildren(h("p", { class: "muted empty" }, state.q ? `No product matches “${state.q}”.` : "No products yet."));
    return;
  }
  const rows = items.map((p) =>
    h(
      "tr",
      { dataset: { productId: p.id } },
      h("td", { "data-label": "Name" }, h("strong", {}, p.name), p.is_bestseller ? h("span", { class: "badge" }, "Bestseller") : "",
        p.is_active ? "" : h("span", { class: "badge off" }, "Inactive")),
      h("td", { "data-label": "SKU" }, p.sku || ""),
      h("td", { "data-label": "Price", class: "num" }, money(p.price, p.currency)),
      h("td", { "data-label": "Stock", class: "num" }, p.stock ? String(p.stock) : h("span", { class: "muted" }, "Sold out")),
      h("td", { "data-label": "Category" }, p.category || ""),
      h(
        "td",
        { class: "row-actions" },
        h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${p.name}`, onclick: () => openEditor(p) }, "Edit"),
        h("button", { type: "button", class: "danger small", "aria-label": `Delete ${p.name}`, onclick: () => remove(p) }, "Delete"),
      ),
    ),
  );
  listSlot.replaceChildren(
    table("Products", ["Name", "SKU", "Price", "Stock", "Category", "Actions"], rows, { class: "data stack" }),
    pager({ page: state.page, limit: LIMIT, total }, "products", (page) => { state.page = page; load(true); }),
  );
}

function openEditor(product) {
  const p = product || { currency: "EGP", stock: 0, is_active: true };
  const input = (name, attrs = {}) => h("input", { name, value: p[name] ?? "", ...attrs });
  const form = h(
    "form",
    { id: "product-form", novalidate: true },
    h("div", { class: "grid" },
      field("Name", input("name", { required: true, autocomplete: "off" })),
      field("SKU", input("sku", { autocomplete: "off" })),
      field("Price", input("price", { inputmode: "decimal" }), "For example 1250.00"),
      field("Currency", input("currency", { maxlength: 3, size: 3 }), "ISO code, e.g. EGP"),
      field("Stock", input("stock", { type: "number", min: 0, step: 1 })),
      field("Category", input("category")),
      field("Tags", h("input", { name: "tags", value: textOf(p.tags) }), "Separated by commas"),
      field("Image URLs", h("input", { name: "images", value: textOf(p.images) }), "Separated by commas"),
    ),
    field("Description", h("textarea", { name: "description", rows: 3 }, p.description || "")),
    h("div", { class: "checks" },
      field("Bestseller", h("input", { type: "checkbox", name: "is_bestseller", checked: !!p.is_bestseller })),
      field("For sale (active)", h("input", { type: "checkbox", name: "is_active", checked: p.is_active !== false })),
    ),
    h("p", { class: "form-error", role: "alert" }),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, product ? "Save changes" : "Create product"),
      h("button", { type: "button", class: "secondary", onclick: closeEditor }, "Cancel"),
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = formValues(form);
    values.tags = listOf(values.tags);
    values.images = listOf(values.images);
    if (product) for (const k of ["description", "category", "sku"]) if (!(k in values)) values[k] = null;
    const r = await saveForm(form, "/api/v1/products", product?.id, values);
    if (!r) return;
    closeEditor();
    flash(product ? `Saved “${r.data.name}”.` : `Created “${r.data.name}”.`);
    load();
  });
  editor.replaceChildren(h("h2", { id: "product-editor-title" }, product ? `Edit ${product.name}` : "New product"), form);
  editor.hidden = false;
  form.elements.name.focus();
}

function closeEditor() {
  editor.hidden = true;
  editor.replaceChildren();
  document.getElementById("new-product").focus();
}

async function remove(p) {
  if (!window.confirm(`Delete “${p.name}”? Orders keep their lines; the product leaves the catalog.`)) return;
  const r = await api("DELETE", `/api/v1/products/${p.id}`);
  if (!r.ok) { flash(r.data.detail || "Could not delete.", true); return; }
  flash(`Deleted “${p.name}”.`);
  load();
}

function flash(text, error = false) {
  notice.textContent = text;
  notice.classList.toggle("error", error);
}

function importSection() {
  const file = h("input", { type: "file", name: "file", accept: ".csv,.json,text/csv,application/json", required: true });
  const progress = h("progress", { id: "import-progress", class: "import-bar", max: 1, value: 0, hidden: true, "aria-label": "Import progress" });
  const status = statusLine("import-status");
  const report = h("div", { id: "import-report" });
  const form = h(
    "form",
    { id: "import-form", class: "panel" },
    h("h2", {}, "Import products"),
    h("p", { class: "muted" }, "A CSV file with a header line (name, price, currency, stock, sku, category, tags, description, images; lists separated by “|”) or a JSON array. Rows update the product with the same SKU."),
    field("CSV or JSON file", file),
    h("p", { class: "form-error", role: "alert" }),
    h("button", { type: "submit" }, "Import"),
    progress,
    status,
    report,
  );
  /** Show a job's progress and follow it to its end (also a job still running when the page was opened). */
  const watch = async (first) => {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    progress.hidden = false;
    const show = (job) => {
      progress.max = Math.max(1, job.total_rows);
      progress.value = job.processed;
      progress.dataset.state = job.status;
      const counts = `${job.created} created, ${job.updated} updated, ${job.failed} failed`;
      status.textContent =
        job.status === "completed" ? `Import completed: ${job.processed} of ${job.total_rows} rows · ${counts}.`
        : job.status === "failed" ? `Import failed: ${job.detail || "unknown reason"} (${counts}).`
        : `Importing${job.filename ? ` ${job.filename}` : ""}… ${job.processed} of ${job.total_rows} rows · ${counts}`;
      report.replaceChildren(errorReport(job.errors));
    };
    show(first);
    await follow(first.url, show, (job) => job.status === "completed" || job.status === "failed", 500);
    button.disabled = false;
    load();
  };
  api("GET", "/api/v1/products/imports?limit=1").then((r) => {
    const job = r.ok && r.data.items[0];
    if (job && (job.status === "queued" || job.status === "running")) watch(job);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblem(form);
    if (!file.files.length) { showProblem(form, { ok: false, data: { errors: [{ field: "file", message: "Choose a file to import." }] } }); return; }
    const body = new FormData();
    body.append("file", file.files[0]);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    report.replaceChildren();
    const r = await api("POST", "/api/v1/products/import", body);
    if (!r.ok) { button.disabled = false; showProblem(form, r); return; }
    await watch(r.data);
  });
  return form;
}

function errorReport(errors) {
  if (!errors || !errors.length) return "";
  return h(
    "div",
    { class: "error-report" },
    h("h3", {}, `${errors.length} row${errors.length > 1 ? "s" : ""} not imported`),
    table("Rows not imported", ["Row", "Field", "Message"], errors.map((e) => [String(e.row), e.field, e.reason]), { id: "import-errors" }),
  );
}
