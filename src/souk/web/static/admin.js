// What the admin settings pages share (canned responses, rules, webhooks, AI agent, API keys, users): a labelled
// field, a table, a confirmation before destroying, a secret shown once, and a status line. Built on lib.js.
import { h, showProblem, clearProblem } from "/static/lib.js";

let uid = 0;

/** The page's root, emptied. */
export function root() {
  const el = document.getElementById("page-root");
  el.replaceChildren();
  return el;
}

/** A label and its control (given an id when it has none), an optional hint tied by aria-describedby. */
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++uid}`;
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintEl = h("p", { class: "hint muted", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, ...parts);
}

export function select(name, options, value, attrs = {}) {
  return h("select", { name, ...attrs },
    ...options.map((o) => {
      const [v, label] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: v, defaultSelected: String(v) === String(value ?? "") }, label);
    }));
}

/** A table of rows; `cols` are [header, (row) => cell]. An empty list says `empty`. */
export function table(cols, rows, empty, attrs = {}) {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h("table", { class: "data", ...attrs },
    h("thead", {}, h("tr", {}, ...cols.map(([title]) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, ...rows.map((r) => h("tr", { dataset: { id: r.id ?? "" } }, ...cols.map(([title, cell]) => h("td", { dataset: { label: title } }, cell(r)))))));
}

/** Ask before a destructive action; runs `action` only on yes. */
export function confirmThen(message, action) {
  return async (ev) => {
    if (ev) ev.preventDefault();
    if (window.confirm(message)) await action(ev);
  };
}

/** A secret that exists only in this answer: shown with a copy button and a warning that it will not come back. */
export function shownOnce(title, secret, warning) {
  return h("section", { class: "once", role: "status", "aria-live": "polite" },
    h("h3", {}, title),
    h("p", { class: "warning" }, warning),
    h("div", { class: "once-value" },
      h("code", { class: "secret", tabindex: "0" }, secret),
      copy(secret)),
    h("button", { type: "button", class: "secondary small", onclick: (ev) => ev.target.closest(".once").remove() },
      "I have saved it"));
}

function copy(text) {
  const b = h("button", { type: "button", class: "secondary small copy" }, "Copy");
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); b.textContent = "Copied"; }
    catch {
      const range = document.createRange();
      range.selectNodeContents(b.previousElementSibling);
      getSelection().removeAllRanges(); getSelection().addRange(range);
      b.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { b.textContent = "Copy"; }, 2000);
  });
  return b;
}

/** A polite status line (saved, deleted…) and an error line for answers that are not about a form's fields. */
export function statusLine() {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite" });
  el.say = (text) => { el.className = "status"; el.textContent = text; };
  el.fail = (result) => {
    el.className = "status form-error";
    const d = typeof result.data === "object" ? result.data : {};
    el.textContent = d.detail || d.title || `Failed (HTTP ${result.status}).`;
  };
  return el;
}

/** Show a failed answer's errors on `form` and return false; for a good one clear earlier errors, return true. */
export function answered(form, result) {
  if (result.ok) { clearProblem(form); return true; }
  showProblem(form, result);
  return false;
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}
