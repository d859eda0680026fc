// What the commerce and CRM pages share beyond lib.js: labelled fields, scrolling tables, a pager, money, the page's
// own query string (so a detail view survives a reload and the back button), and a short status line.
import { h } from "/static/lib.js";

let uid = 0;

/** A labelled field: `<div class=field><label for=id>…</label><input id=id …></div>`; the control gets an id. */
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${control.name || "x"}-${++uid}`;
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "muted hint" }, hint));
  }
  return h("div", { class: control.type === "checkbox" ? "field check" : "field" }, ...parts);
}

/** A `<select>` of `[value, label]` pairs (or plain values). */
export function select(name, options, value = "", attrs = {}) {
  const el = h("select", { name, ...attrs });
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    el.append(h("option", { value: v, selected: String(v) === String(value ?? "") || undefined }, label));
  }
  return el;
}

/** A data table inside a wrapper that scrolls sideways on a phone; `rows` are arrays of cells (text or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      { class: "data", ...attrs },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => (cells instanceof HTMLElement ? cells : h("tr", {}, cells.map((c) => h("td", {}, c)))))),
    ),
  );
}

/** "Page 2 of 5 · 93 products" with Previous / Next buttons; `go(page)` loads another page. */
export function pager({ page, limit, total }, noun, go) {
  const pages = Math.max(1, Math.ceil(total / limit));
  return h(
    "nav",
    { class: "pager", "aria-label": `${noun} pages` },
    h("button", { type: "button", class: "secondary small", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous"),
    h("span", { class: "muted", "aria-live": "polite" }, `Page ${page} of ${pages} · ${total} ${noun}`),
    h("button", { type: "button", class: "secondary small", disabled: page >= pages, onclick: () => go(page + 1) }, "Next"),
  );
}

export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "";
  return `${amount} ${currency || ""}`.trim();
}

/** The page's query string as an object, and a way to change it (pushing a history entry unless `replace`). */
export function query() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

export function setQuery(values, replace = false) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== "" && v !== false) params.set(k, v);
  const url = location.pathname + (params.toString() ? `?${params}` : "");
  if (url === location.pathname + location.search) return;
  history[replace ? "replaceState" : "pushState"](null, "", url);
}

/** A polite status line whose text screen readers announce. */
export function statusLine(cls = "") {
  return h("p", { class: `status-line ${cls}`.trim(), role: "status", "aria-live": "polite" });
}

/** Comma-separated text as a list, and back. */
export const listOf = (text) => String(text || "").split(",").map((s) => s.trim()).filter(Boolean);
export const textOf = (list) => (list || []).join(", ");

/** A heading with actions on its right. */
export function bar(title, ...actions) {
  return h("div", { class: "bar" }, h("h2", {}, title), h("div", { class: "actions" }, ...actions));
}

/** A short id for people: the first eight characters of a UUID. */
export const short = (id) => String(id || "").slice(0, 8);
