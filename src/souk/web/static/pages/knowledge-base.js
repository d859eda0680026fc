// Knowledge base: the documents the AI agent answers from. A search box shows what the agent would find for a
// customer's question; documents are listed, created, edited, deleted, and imported from Markdown, CSV or JSON.
import { api, h, showProblem, clearProblem, saveForm, formValues, when } from "/static/lib.js";
import { field, table, pager, query, setQuery, statusLine, listOf, textOf, bar } from "/static/pages/commerce-kit.js";

const root = document.getElementById("page-root");
const LIMIT = 20;
const state = { page: Number(query().page) || 1 };

const notice = statusLine("notice");
const hits = h("div", { id: "kb-hits" });
const editor = h("section", { id: "kb-editor", class: "panel", hidden: true, "aria-labelledby": "kb-editor-title" });
const listSlot = h("div", { id: "kb-list" });
root.replaceChildren(
  notice,
  searchForm(),
  hits,
  bar("Documents", h("button", { type: "button", id: "new-document", onclick: () => openEditor(null) }, "New document")),
  editor,
  listSlot,
  importForm(),
);
load();
if (query().q) search(query().q);

function say(text, error = false) {
  notice.textContent = text;
  notice.classList.toggle("error", error);
}

function searchForm() {
  const q = h("input", { type: "search", name: "q", value: query().q || "", placeholder: "e.g. how long does delivery take?" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Knowledge base" },
    field("Ask as a customer would", q, "Shows the passages the AI agent finds for this question, best first."),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setQuery({ q: q.value.trim(), page: state.page > 1 ? state.page : "" });
    search(q.value.trim());
  });
  return form;
}

/** A snippet whose hits come as **bold**, drawn with <mark> and no HTML from the document itself. */
function snippet(text) {
  const out = h("p", { class: "snippet", dir: "auto" });
  String(text).split(/\*\*(.+?)\*\*/g).forEach((part, i) => out.append(i % 2 ? h("mark", {}, part) : part));
  return out;
}

async function search(q) {
  if (!q) { hits.replaceChildren(); return; }
  hits.setAttribute("aria-busy", "true");
  const r = await api("GET", `/api/v1/knowledge-base/search?${new URLSearchParams({ q, limit: 5 })}`);
  hits.removeAttribute("aria-busy");
  if (!r.ok) { hits.replaceChildren(h("p", { class: "form-error", role: "alert" }, r.data.detail || "Search failed.")); return; }
  hits.replaceChildren(
    h("h2", { id: "hits-title" }, `What the AI agent finds for “${q}”`),
    r.data.items.length
      ? h("ol", { class: "hits", "aria-labelledby": "hits-title" }, r.data.items.map((hit) => h(
        "li",
        { dataset: { docId: hit.document.doc_id } },
        h("span", { class: "score muted" }, `relevance ${Number(hit.score).toFixed(2)}`),
        h("strong", { dir: "auto" }, hit.document.title),
        hit.document.category ? h("span", { class: "badge" }, hit.document.category) : "",
        snippet(hit.snippet),
      )))
      : h("p", { class: "muted empty" }, "Nothing found: the agent would have no document to answer from."),
  );
}

async function load() {
  const r = await api("GET", `/api/v1/knowledge-base?${new URLSearchParams({ page: state.page, limit: LIMIT })}`);
  if (!r.ok) { listSlot.replaceChildren(h("p", { class: "form-error", role: "alert" }, r.data.detail || "Could not load documents.")); return; }
  const { items, total } = r.data;
  listSlot.dataset.total = total;
  if (!items.length) { listSlot.replaceChildren(h("p", { class: "muted empty" }, "No documents yet.")); return; }
  const rows = items.map((d) => h(
    "tr",
    { dataset: { docId: d.doc_id } },
    h("td", { "data-label": "Title" }, h("strong", { dir: "auto" }, d.title), d.is_active ? "" : h("span", { class: "badge off" }, "Inactive")),
    h("td", { "data-label": "Id" }, h("code", {}, d.doc_id)),
    h("td", { "data-label": "Category" }, d.category || ""),
    h("td", { "data-label": "Updated" }, when(d.updated_at)),
    h("td", { class: "row-actions" },
      h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${d.title}`, onclick: () => openEditor(d) }, "Edit"),
      h("button", { type: "button", class: "danger small", "aria-label": `Delete ${d.title}`, onclick: () => remove(d) }, "Delete")),
  ));
  listSlot.replaceChildren(
    table("Documents", ["Title", "Id", "Category", "Updated", "Actions"], rows, { class: "data stack" }),
    pager({ page: state.page, limit: LIMIT, total }, "documents", (page) => { state.page = page; setQuery({ ...query(), page }); load(); }),
  );
}

function openEditor(doc) {
  const d = doc || { is_active: true };
  const form = h(
    "form",
    { id: "kb-form", novalidate: true },
    h("div", { class: "grid" },
      field("Title", h("input", { name: "title", value: d.title || "", required: true })),
      field("Document id", h("input", { name: "doc_id", value: d.doc_id || "", disabled: !!doc, autocomplete: "off" }), doc ? "Fixed once created" : "Short and unique, e.g. returns-policy"),
      field("Category", h("input", { name: "category", value: d.category || "" })),
      field("Tags", h("input", { name: "tags", value: textOf(d.tags) }), "Separated by commas"),
    ),
    field("Content", h("textarea", { name: "content", rows: 8 }, d.content || "")),
    h("div", { class: "checks" }, field("Active (the agent may use it)", h("input", { type: "checkbox", name: "is_active", checked: d.is_active !== false }))),
    h("p", { class: "form-error", role: "alert" }),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, doc ? "Save changes" : "Add document"),
      h("button", { type: "button", class: "secondary", onclick: closeEditor }, "Cancel")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = formValues(form);
    v.tags = listOf(v.tags);
    if (doc && !("category" in v)) v.category = null;
    const r = await saveForm(form, "/api/v1/knowledge-base", doc?.doc_id, v);
    if (!r) return;
    closeEditor();
    say(doc ? `Saved “${r.data.title}”.` : `Added “${r.data.title}”.`);
    load();
  });
  editor.replaceChildren(h("h2", { id: "kb-editor-title" }, doc ? `Edit ${doc.title}` : "New document"), form);
  editor.hidden = false;
  form.elements.title.focus();
}

function closeEditor() {
  editor.hidden = true;
  editor.replaceChildren();
  document.getElementById("new-document").focus();
}

async function remove(d) {
  if (!window.confirm(`Delete “${d.title}”? The AI agent will no longer answer from it.`)) return;
  const r = await api("DELETE", `/api/v1/knowledge-base/${encodeURIComponent(d.doc_id)}`);
  if (!r.ok) { say(r.data.detail || "Could not delete.", true); return; }
  say(`Deleted “${d.title}”.`);
  load();
}

function importForm() {
  const file = h("input", { type: "file", name: "file", accept: ".md,.markdown,.csv,.json,text/markdown,text/csv,application/json" });
  const result = h("div", { id: "kb-import-result" });
  const form = h(
    "form",
    { id: "kb-import", class: "panel" },
    h("h2", {}, "Import documents"),
    h("p", { class: "muted" }, "Markdown (one document per “# heading”), CSV (doc_id, title, content, category, tags) or a JSON array. Documents with the same id are updated."),
    field("Markdown, CSV or JSON file", file),
    h("p", { class: "form-error", role: "alert" }),
    h("button", { type: "submit" }, "Import"),
    result,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblem(form);
    if (!file.files.length) { showProblem(form, { ok: false, data: { errors: [{ field: "file", message: "Choose a file to import." }] } }); return; }
    const body = new FormData();
    body.append("file", file.files[0]);
    const r = await api("POST", "/api/v1/knowledge-base/import", body);
    if (!r.ok) { showProblem(form, r); return; }
    const { created, updated, errors } = r.data;
    result.replaceChildren(
      h("p", { role: "status" }, `Imported: ${created} created, ${updated} updated, ${errors.length} not imported.`),
      errors.length ? table("Documents not imported", ["Document", "Field", "Message"], errors.map((x) => [String(x.row), x.field, x.reason])) : "",
    );
    load();
  });
  return form;
}
