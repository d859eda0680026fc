// Shared by the pages: one way to call the JSON API, to build elements, to show a problem's field errors next to
// their fields, and to follow a long operation's progress. Every page is a client of the public API, nothing more.

/** Called before an expired session sends the browser to the login page (a page keeps its unsaved input here). */
export const beforeLogin = [];
let leaving = false;  // on the way to the login page

/**
 * Call the API. Resolves to {ok, status, data}; a 401 saves what pages registered in `beforeLogin` and goes to the
 * login page, coming back here afterwards.
 */
export async function api(method, path, body, headers = {}) {
  const isForm = body instanceof FormData;
  const res = await fetch(path, {
    method,
    headers: {
      accept: "application/json",
      ...(body && !isForm ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body ? (isForm ? body : JSON.stringify(body)) : undefined,
  });
  if (res.status === 401) {
    if (!leaving) {  // once: a second navigation (another call meeting the same expiry) would abort the first
      leaving = true;
      for (const save of beforeLogin) save();
      window.location = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    }
    return new Promise(() => {});  // the page is going away
  }
  const type = res.headers.get("content-type") || "";
  const data = res.status === 204 ? {} : type.includes("json") ? await res.json().catch(() => ({})) : await res.text();
  return { ok: res.ok, status: res.status, data };
}

/** h("button", {type: "button", onclick: f, class: "x"}, "Label", child…): an element, children as text or nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/**
 * Show a problem+json answer on a form: each `errors[].field` next to the input named so (an element
 * `[data-error-for=field]`, created after the input when missing), the rest in the form's `.form-error`.
 */
export function showProblem(form, result) {
  clearProblem(form);
  const problem = typeof result.data === "object" ? result.data : {};
  let unplaced = [];
  for (const e of problem.errors || []) {
    const field = String(e.field || "").replace(/^body\./, "");
    const input = form.querySelector(`[name="${CSS.escape(field)}"]`) || form.querySelector(`[name="${CSS.escape(field.split(".").pop())}"]`);
    if (!input) { unplaced.push(`${field}: ${e.message}`); continue; }
    let slot = form.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
    if (!slot) {
      slot = h("p", { class: "field-error", role: "alert", dataset: { errorFor: input.name } });
      input.after(slot);
    }
    slot.textContent = e.message;
    input.setAttribute("aria-invalid", "true");
  }
  let general = form.querySelector(".form-error");
  if (!general) { general = h("p", { class: "form-error", role: "alert" }); form.append(general); }
  const detail = problem.detail || problem.title || (result.ok ? "" : `Failed (HTTP ${result.status}).`);
  general.textContent = [unplaced.length || !(problem.errors || []).length ? detail : "", ...unplaced]
    .filter(Boolean).join(" ");
}

/**
 * Create or change one resource from a form: POST to `collection`, or PATCH `collection/<id>` when `id` is given.
 * The form's submit button is disabled while the request runs. A refusal is shown on the form (each field's message
 * beside it, the first wrong field focused; `adapt` may rewrite the problem first) and null is returned; otherwise
 * the answer, the form's old messages cleared.
 */
export async function saveForm(form, collection, id, body, adapt = (r) => r) {
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  let r;
  try {
    r = id == null ? await api("POST", collection, body) : await api("PATCH", `${collection}/${encodeURIComponent(id)}`, body);
  } finally {
    if (button) button.disabled = false;
  }
  if (r.ok) { clearProblem(form); return r; }
  showProblem(form, adapt(r));
  form.querySelector("[aria-invalid=true]")?.focus();
  return null;
}

export function clearProblem(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) general.textContent = "";
}

/** The values of a form as an object; empty fields are left out, checkboxes are booleans, `data-json` fields parsed. */
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") { out[el.name] = el.checked; continue; }
    if (el.value === "") continue;
    if (el.dataset.json !== undefined) { try { out[el.name] = JSON.parse(el.value); } catch { out[el.name] = el.value; } continue; }
    out[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  return out;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString();
}

/** Poll `path` every `ms` until `done(body)`; `each(body)` sees every answer (a progress bar, a status line). */
export async function follow(path, each, done, ms = 1000) {
  for (;;) {
    const r = await api("GET", path);
    if (!r.ok) return r;
    each(r.data);
    if (done(r.data)) return r;
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/** Copy text to the clipboard, saying so on the button. */
export function copyButton(text, label = "Copy") {
  const b = h("button", { type: "button", class: "secondary small" }, label);
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); b.textContent = "Copied"; }
    catch { b.textContent = "Select and copy"; }
    setTimeout(() => { b.textContent = label; }, 1500);
  });
  return b;
}
