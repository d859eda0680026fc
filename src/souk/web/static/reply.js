// The reply box: text (Ctrl/⌘+Enter sends), canned responses with "/", attachments (picker or drag and drop, with a
// caption), a WhatsApp template when the 24-hour window is closed, private notes, a few common emojis. The draft is
// kept per conversation in sessionStorage, so an expired session (the login page and back) or a reload loses
// nothing. A failed send says why, next to the field the API names, and offers to try again with the same
// Idempotency-Key, so a send that did reach the server is never sent twice.
import { api, beforeLogin, clearProblem, h, showProblem } from "/static/lib.js";
import { size } from "/static/thread-render.js";

const $ = (id) => document.getElementById(id);
const EMOJIS = ["😊", "🙂", "😂", "😍", "🥰", "😉", "😅", "🤔", "😢", "😎", "👍", "👌", "🙏", "👋", "🙌", "🤝",
  "❤️", "🔥", "✨", "🎉", "🎁", "✅", "💯", "⭐", "🛒", "📦", "🚚", "💳", "📍", "⏰", "☎️", "💬"];
export const REOPEN_KEY = "souk:reopen";
const draftKey = (id) => `souk:draft:${id}`;

export function setupReply({ onSent }) {
  const form = $("reply-form");
  const text = $("reply-text");
  const caption = $("attachment-caption");
  const fileInput = $("reply-file");
  const canned = $("canned-list");
  const picker = $("emoji-picker");
  const toggle = $("emoji-toggle");
  const retry = $("reply-retry");
  const send = $("reply-send");
  const tpl = { name: $("template-name"), language: $("template-language"), params: $("template-params") };
  const s = {
    conv: null, mode: "reply", file: null, templates: [], sending: false,
    keys: {},  // one Idempotency-Key per part of the send (file, text), kept until it succeeds or the input changes
    cannedRows: null, cannedAt: 0, options: [], active: -1, token: null, templatesFor: null,
  };

  // -- modes: reply, private note; a closed WhatsApp window turns the reply into a template ----------------------

  const windowClosedForText = () => s.conv?.reply_window && !s.conv.reply_window.open
    && s.conv.reply_window.when_closed === "template";

  function render() {
    const note = s.mode === "note";
    const template = !note && windowClosedForText();
    form.classList.toggle("note-mode", note);
    $("mode-reply").setAttribute("aria-pressed", String(!note));
    $("mode-note").setAttribute("aria-pressed", String(note));
    $("compose").hidden = template;
    $("template-form").hidden = !template;
    text.name = note ? "body" : "text";
    $("reply-label").textContent = note ? "Private note (only your team sees it)" : "Reply to the customer";
    text.placeholder = note ? "Write a note for your team; Ctrl+Enter adds it"
      : "Write a reply; / for canned responses; Ctrl+Enter sends";
    send.textContent = note ? "Add note" : template ? "Send template" : "Send";
    $("attach-label").hidden = note || template;
    toggle.hidden = template;
    if (template) showPicker(false);
    $("reply-hint").hidden = note;
    $("attachment").hidden = note || !s.file;
    if (template) loadTemplates();
    showWindow();
  }

  function showWindow() {
    const box = $("window-state");
    const w = s.conv?.reply_window;
    box.className = "window-state";
    if (!w || s.mode === "note") { box.hidden = true; return; }
    box.hidden = false;
    const name = { whatsapp_customer_service: "WhatsApp's 24-hour customer service window",
      standard_messaging: "The 24-hour messaging window", tiktok: "TikTok's 48-hour window" }[w.kind] || "The window";
    const at = w.closes_at
      ? new Date(w.closes_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : null;
    if (w.open) {
      box.textContent = `${name} is open until ${at}.`;
      return;
    }
    box.classList.add("closed");
    const since = w.closes_at ? ` (it closed ${at})` : " (the customer has not written yet)";
    box.textContent = `${name} is closed${since}: ` + ({
      template: "only an approved template can be sent until the customer writes again.",
      human_agent_tag: "a person may still answer for 7 days; replies go with the HUMAN_AGENT tag.",
      nothing: "the platform takes no message until the customer writes again.",
    }[w.when_closed] || "");
  }

  $("mode-reply").addEventListener("click", () => { s.mode = "reply"; clearProblem(form); render(); save(); text.focus(); });
  $("mode-note").addEventListener("click", () => { s.mode = "note"; clearProblem(form); render(); save(); text.focus(); });

  // -- drafts ------------------------------------------------------------------------------------------------------

  function save() {
    if (!s.conv) return;
    const draft = { text: text.value, mode: s.mode, caption: caption.value,
      template: { name: tpl.name.value, language: tpl.language.value, params: tpl.params.value } };
    const empty = !draft.text && !draft.caption && !draft.template.name && !draft.template.params && s.mode === "reply";
    if (empty) sessionStorage.removeItem(draftKey(s.conv.id));
    else sessionStorage.setItem(draftKey(s.conv.id), JSON.stringify(draft));
  }

  function restore(id) {
    let draft = {};
    try { draft = JSON.parse(sessionStorage.getItem(draftKey(id)) || "{}"); } catch { draft = {}; }
    text.value = draft.text || "";
    caption.value = draft.caption || "";
    s.mode = draft.mode === "note" ? "note" : "reply";
    tpl.name.value = draft.template?.name || "";
    tpl.language.value = draft.template?.language || "en_US";
    tpl.params.value = draft.template?.params || "";
  }

  for (const el of [text, caption, tpl.name, tpl.language, tpl.params]) {
    el.addEventListener("input", () => {
      s.keys = {};  // a changed request is a new send
      retry.hidden = true;
      // the field's own error goes once it is edited
      el.removeAttribute("aria-invalid");
      const slot = form.querySelector(`[data-error-for="${CSS.escape(el.name)}"]`);
      if (slot) slot.textContent = "";
      save();
    });
  }
  // an expired session: keep the draft and come back to this conversation after logging in
  beforeLogin.push(() => {
    save();
    if (s.conv) sessionStorage.setItem(REOPEN_KEY, s.conv.id);
  });

  // -- attachments -------------------------------------------------------------------------------------------------

  function attach(file) {
    if (!file) return;
    s.file = file;
    s.keys = {};
    retry.hidden = true;
    form.querySelector('[data-error-for="file"]').textContent = "";
    $("attachment-name").textContent = `📎 ${file.name} (${size(file.size)})`;
    render();
    caption.focus();
  }

  function detach() {
    s.file = null;
    fileInput.value = "";
    caption.value = "";
    render();
    save();
  }

  fileInput.addEventListener("change", () => attach(fileInput.files[0]));
  $("attachment-remove").addEventListener("click", () => { detach(); text.focus(); });
  const section = $("thread");
  section.addEventListener("dragover", (e) => {
    if (s.mode === "note" || !e.dataTransfer?.types?.includes("Files")) return;
    e.preventDefault();
    $("drop-hint").hidden = false;
  });
  section.addEventListener("dragleave", (e) => { if (!section.contains(e.relatedTarget)) $("drop-hint").hidden = true; });
  section.addEventListener("drop", (e) => {
    $("drop-hint").hidden = true;
    if (s.mode === "note" || !e.dataTransfer?.files?.length) return;
    e.preventDefault();
    attach(e.dataTransfer.files[0]);
  });

  // -- emoji -------------------------------------------------------------------------------------------------------

  picker.append(...EMOJIS.map((emoji) => h("button", { type: "button", class: "emoji", "aria-label": emoji }, emoji)),
    h("p", { class: "muted hint" }, "More: the system's emoji keyboard (Win+. or Ctrl+⌘+Space)."));
  const showPicker = (open) => { picker.hidden = !open; toggle.setAttribute("aria-expanded", String(open)); };
  toggle.addEventListener("click", () => { showPicker(picker.hidden); if (!picker.hidden) picker.querySelector("button").focus(); });
  picker.addEventListener("click", (e) => {
    const b = e.target.closest("button.emoji");
    if (!b) return;
    insertAtCaret(text, b.textContent);
    showPicker(false);
  });
  picker.addEventListener("keydown", (e) => { if (e.key === "Escape") { showPicker(false); toggle.focus(); } });

  function insertAtCaret(el, value, from = el.selectionStart, to = el.selectionEnd) {
    el.focus();
    el.setRangeText(value, from, to, "end");
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // -- canned responses with "/" -----------------------------------------------------------------------------------

  async function cannedRows() {
    if (!s.cannedRows || Date.now() - s.cannedAt > 60_000) {
      const r = await api("GET", "/api/v1/canned-responses");
      s.cannedRows = r.ok ? r.data : [];
      s.cannedAt = Date.now();
    }
    return s.cannedRows;
  }

  function closeCanned() {
    canned.hidden = true;
    canned.replaceChildren();
    s.options = [];
    s.active = -1;
    s.token = null;
    text.removeAttribute("aria-activedescendant");
    text.setAttribute("aria-expanded", "false");
  }

  function highlight(i) {
    s.active = i;
    [...canned.children].forEach((li, n) => li.setAttribute("aria-selected", String(n === i)));
    if (i >= 0) {
      text.setAttribute("aria-activedescendant", canned.children[i].id);
      canned.children[i].scrollIntoView({ block: "nearest" });
    }
  }

  async function suggest() {
    if (s.mode === "note") return closeCanned();
    const caret = text.selectionStart;
    const match = text.value.slice(0, caret).match(/(^|\s)\/([\w-]*)$/);
    if (!match || text.selectionEnd !== caret) return closeCanned();
    const query = match[2].toLowerCase();
    const rows = (await cannedRows())
      .filter((c) => c.shortcut.replace(/^\//, "").toLowerCase().startsWith(query))
      .slice(0, 8);
    if (!rows.length) return closeCanned();
    s.token = { from: caret - match[2].length - 1, to: caret };
    s.options = rows;
    canned.replaceChildren(...rows.map((c, i) => h("li", {
      id: `canned-${i}`, role: "option", "aria-selected": "false", class: "canned",
      onmousedown: (e) => { e.preventDefault(); choose(i); },
    }, h("strong", {}, `/${c.shortcut.replace(/^\//, "")}`), " ", h("span", { class: "muted", dir: "auto" }, c.content.slice(0, 80)))));
    canned.hidden = false;
    text.setAttribute("aria-expanded", "true");
    highlight(0);
  }

  async function choose(i) {
    const row = s.options[i];
    const token = s.token;
    if (!row || !token || !s.conv) return;
    closeCanned();
    const r = await api("POST", "/api/v1/canned-responses/render",
      { conversation_id: s.conv.id, text: `/${row.shortcut.replace(/^\//, "")}` });
    if (!r.ok) { showProblem(form, r); return; }
    insertAtCaret(text, r.data.text, token.from, token.to);
  }

  text.addEventListener("input", suggest);
  text.addEventListener("click", suggest);
  text.addEventListener("blur", () => setTimeout(closeCanned, 150));
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      closeCanned();
      form.requestSubmit();
      return;
    }
    if (canned.hidden || !s.options.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const n = s.options.length;
      highlight((s.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n);
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      choose(Math.max(s.active, 0));
    } else if (e.key === "Escape") {
      e.preventDefault();
      closeCanned();
    }
  });
  for (const el of [caption, tpl.name, tpl.language, tpl.params]) {
    el.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
  }

  // -- templates ---------------------------------------------------------------------------------------------------

  async function loadTemplates() {
    if (!s.conv || s.templatesFor === s.conv.id) return;
    s.templatesFor = s.conv.id;
    const r = await api("GET", `/api/v1/conversations/${s.conv.id}/templates`);
    if (r.ok) offerTemplates(r.data.items);
  }

  function offerTemplates(list) {
    if (!Array.isArray(list) || !list.length) return;
    s.templates = list;
    $("template-names").replaceChildren(...list.map((t) => h("option", { value: t.name }, `${t.name} (${t.language})`)));
    showTemplateBody();
  }

  /** The chosen template's text and how many parameters it takes; its language when it has only one. */
  function showTemplateBody() {
    const same = s.templates.filter((x) => x.name === tpl.name.value.trim());
    const t = same.find((x) => x.language === tpl.language.value.trim()) || same[0];
    if (same.length === 1 && t.language && tpl.language.value.trim() !== t.language) tpl.language.value = t.language;
    const n = t?.parameters ?? 0;
    $("template-body").textContent = t?.body
      ? `“${t.body}”: ${n ? `${n} parameter${n > 1 ? "s" : ""}, one per line below` : "no parameters"}.` : "";
    tpl.params.rows = Math.max(2, n);
  }
  tpl.name.addEventListener("input", showTemplateBody);
  tpl.language.addEventListener("input", showTemplateBody);

  // -- sending -----------------------------------------------------------------------------------------------------

  const key = (part) => (s.keys[part] ||= crypto.randomUUID());

  async function call(method, path, body, part) {
    try {
      return await api(method, path, body, part ? { "Idempotency-Key": key(part) } : {});
    } catch (err) {
      return { ok: false, status: 0, data: { detail: `The network failed (${err.message}); nothing is lost: try again.` } };
    }
  }

  function fail(result, message) {
    const r = result || { ok: false, status: 0, data: { detail: message } };
    showProblem(form, r);
    // the field says what is wrong with it; the whole reason (a platform's limits, say) stays under the box too
    const problem = typeof r.data === "object" ? r.data : {};
    if (problem.detail && !(problem.errors || []).some((e) => e.message === problem.detail)) {
      $("reply-error").textContent = problem.detail;
    }
    if (typeof r.data === "object" && String(r.data.type || "").endsWith("/window-closed")) {
      // the window closed since the page was loaded: switch to templates and list the approved ones
      if (s.conv) s.conv.reply_window = { ...(s.conv.reply_window || {}), ...r.data.window, open: false,
        when_closed: s.conv.reply_window?.when_closed || "template", kind: s.conv.reply_window?.kind || "whatsapp_customer_service" };
      offerTemplates(r.data.templates);
      render();
      $("reply-error").textContent = r.data.detail;
    }
    // trying again helps when the request did not get through or the server had a bad moment, not when it said no
    retry.hidden = !(r.status === 0 || r.status === 429 || r.status >= 500);
  }

  function localError(name, message) {
    fail({ ok: false, status: 422, data: { detail: message, errors: [{ field: name, message }] } });
    form.querySelector(`[name="${name}"]`)?.focus();
  }

  async function submit() {
    if (!s.conv || s.sending) return;
    clearProblem(form);
    retry.hidden = true;
    const id = s.conv.id;
    const tag = s.conv.reply_window && !s.conv.reply_window.open && s.conv.reply_window.when_closed === "human_agent_tag"
      ? { tag: "HUMAN_AGENT" } : {};
    s.sending = true;
    send.disabled = true;
    try {
      if (s.mode === "note") {
        const body = text.value.trim();
        if (!body) return localError("body", "Write the note first.");
        const r = await call("POST", `/api/v1/conversations/${id}/notes`, { body }, "note");
        if (!r.ok) return fail(r);
        text.value = "";
      } else if (windowClosedForText()) {
        const name = tpl.name.value.trim();
        if (!name) return localError("template.name", "Choose the template to send.");
        const params = tpl.params.value.split("\n").map((p) => p.trim()).filter(Boolean);
        const template = { name, language: tpl.language.value.trim() || "en_US",
          components: params.length ? [{ type: "body", parameters: params.map((p) => ({ type: "text", text: p })) }] : [] };
        const r = await call("POST", `/api/v1/conversations/${id}/messages`, { template }, "template");
        if (!r.ok) { offerTemplates(r.data?.templates); return fail(r); }
        tpl.params.value = "";
      } else {
        const words = text.value.trim();
        if (!s.file && !words) return localError("text", "Write a reply or attach a file first.");
        if (s.file) {
          const data = new FormData();
          data.append("file", s.file, s.file.name);
          if (caption.value.trim()) data.append("caption", caption.value.trim());
          if (tag.tag) data.append("tag", tag.tag);
          const r = await call("POST", `/api/v1/conversations/${id}/messages`, data, "file");
          if (!r.ok) return fail(r);
          delete s.keys.file;
          detach();
        }
        if (words) {
          const r = await call("POST", `/api/v1/conversations/${id}/messages`, { type: "text", text: words, ...tag }, "text");
          if (!r.ok) return fail(r);
          text.value = "";
        }
      }
      s.keys = {};
      save();
      await onSent();
    } finally {
      s.sending = false;
      send.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  retry.addEventListener("click", () => submit());

  return {
    /** A conversation was opened: its draft comes back. */
    open(id) {
      s.conv = { id };
      s.file = null;
      s.keys = {};
      s.templates = [];
      s.templatesFor = null;
      fileInput.value = "";
      $("template-names").replaceChildren();
      $("template-body").textContent = "";
      clearProblem(form);
      retry.hidden = true;
      closeCanned();
      restore(id);
      render();
    },
    /** The conversation changed (a new message moves the window). */
    update(conv) {
      if (!s.conv || s.conv.id !== conv.id) return;
      s.conv = conv;
      render();
    },
    focus() { (windowClosedForText() && s.mode !== "note" ? tpl.name : text).focus(); },
  };
}
