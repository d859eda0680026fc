// Settings → Channels: every channel with its status and numbers, a form per channel type built from the type's
// field list (/api/v1/channel-types), and each channel's set-up steps: test the connection, the webhook URL and
// verify token to copy, activate or deactivate, the WAHA QR code with its countdown, the history import with its
// progress bar, and the pipeline its conversations go to.
import { api, h, showProblem, clearProblem, saveForm, follow, copyButton, when } from "/static/lib.js";

const root = document.getElementById("page-root");

/** `el.replaceChildren`, leaving out the null and false of conditional children. */
const fill = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
const state = { types: [], byType: {}, pipelines: [], cards: new Map() };

const STATUS_LABEL = {
  active: "Active", inactive: "Inactive", connecting: "Setting up", disconnected: "Disconnected", error: "Error",
};
const PARTNER_NOTE = "This platform has no public API: the channel works with credentials from a partner agreement.";

// -- the page --------------------------------------------------------------------------------------------------

async function start() {
  const [types, channels, pipelines] = await Promise.all([
    api("GET", "/api/v1/channel-types"),
    api("GET", "/api/v1/channels?limit=100"),
    api("GET", "/api/v1/pipelines"),
  ]);
  // platforms anyone can sign up for first, those needing a partner agreement last
  state.types = (types.ok ? types.data : []).sort((a, b) =>
    Number(a.requires_partner_credentials) - Number(b.requires_partner_credentials)
    || a.display_name.localeCompare(b.display_name));
  state.byType = Object.fromEntries(state.types.map((t) => [t.channel_type, t]));
  state.pipelines = pipelines.ok ? pipelines.data : [];

  const add = h("button", { type: "button", id: "add-channel", onclick: () => openEditor(null) }, "Add channel");
  const editor = h("section", { id: "channel-editor", class: "editor", hidden: true, "aria-label": "Channel form" });
  const list = h("ul", { id: "channel-list", class: "cards", "aria-label": "Channels" });
  fill(root, h("div", { class: "toolbar" }, add), editor, list);
  if (!channels.ok) { list.append(h("li", { class: "empty" }, "Channels could not be loaded.")); return; }
  renderList(channels.data.items);
  listen();
}

/** Live: status changes, new messages and channels added or removed in another tab or by the platform show here
 * without a reload (the same event stream the inbox reads). */
function listen() {
  if (!window.EventSource) return;
  const live = new EventSource("/api/v1/events/stream");
  const pending = new Map();
  const refreshSoon = (id) => {
    if (pending.has(id)) return;
    pending.set(id, setTimeout(() => { pending.delete(id); const card = state.cards.get(id); if (card) card.refresh(); }, 500));
  };
  const data = (event) => { try { return JSON.parse(event.data).data || {}; } catch { return {}; } };
  for (const kind of ["channel.updated", "channel.activated", "channel.deactivated", "message.created"]) {
    live.addEventListener(kind, (e) => { const id = data(e).channel_id; if (id) refreshSoon(id); });
  }
  live.addEventListener("channel.created", async (e) => {
    const id = data(e).channel_id;
    if (!id || state.cards.has(id)) return;
    const r = await api("GET", `/api/v1/channels/${id}`);
    if (r.ok && !state.cards.has(id)) addCard(r.data);
  });
  live.addEventListener("channel.deleted", (e) => dropCard(data(e).channel_id));
  const liveState = document.getElementById("live-state");
  live.addEventListener("open", () => { if (liveState) liveState.textContent = "live"; });
  live.addEventListener("error", () => { if (liveState) liveState.textContent = "reconnecting…"; });
}

function renderList(channels) {
  const list = document.getElementById("channel-list");
  for (const card of state.cards.values()) card.stop();
  state.cards.clear();
  list.replaceChildren();
  if (!channels.length) {
    list.append(h("li", { class: "empty muted" }, "No channels yet. Add one to start receiving messages."));
    return;
  }
  for (const ch of channels) {
    const card = channelCard(ch);
    state.cards.set(ch.id, card);
    list.append(card.el);
  }
}

/** One more card, without touching the others (a QR code or an import may be running on them). */
function addCard(ch) {
  const list = document.getElementById("channel-list");
  for (const empty of list.querySelectorAll("li.empty")) empty.remove();
  const card = channelCard(ch);
  state.cards.set(ch.id, card);
  list.append(card.el);
  return card;
}

function dropCard(id) {
  const card = state.cards.get(id);
  if (!card) return;
  card.stop();
  card.el.remove();
  state.cards.delete(id);
  if (!state.cards.size) renderList([]);
}

function typeOf(ch) {
  return state.byType[ch.channel_type] || { display_name: ch.channel_type, fields: [], channel_type: ch.channel_type };
}

// -- the create / edit form, built from the type's fields --------------------------------------------------------

function openEditor(channel) {
  const editor = document.getElementById("channel-editor");
  const types = state.types;
  const form = h("form", { id: "channel-form", novalidate: true, class: "stack" });
  const heading = h("h2", {}, channel ? `Edit ${channel.name}` : "Add a channel");
  const fields = h("div", { class: "config-fields" });
  let type = channel ? typeOf(channel) : types[0];

  const typeSelect = h(
    "select",
    { id: "channel-type", name: "channel_type", disabled: Boolean(channel) },
    types.map((t) => h("option", { value: t.channel_type },
      t.requires_partner_credentials ? `${t.display_name} (partner credentials)` : t.display_name)),
  );
  if (type) typeSelect.value = type.channel_type;
  typeSelect.addEventListener("change", () => {
    type = state.byType[typeSelect.value];
    renderFields();
  });
  const name = h("input", { id: "channel-name", name: "name", value: channel ? channel.name : "", autocomplete: "off" });

  function renderFields() {
    clearProblem(form);
    fill(fields, ...configInputs(type, channel));
    applyConditions(fields);
  }

  const save = h("button", { type: "submit" }, channel ? "Save" : "Create channel");
  const cancel = h("button", { type: "button", class: "secondary", onclick: closeEditor }, "Cancel");
  form.append(
    heading,
    h("label", { for: "channel-type" }, "Type"), typeSelect,
    h("label", { for: "channel-name" }, "Name ", h("span", { class: "req", "aria-hidden": "true" }, "*")), name,
    fields,
    h("div", { class: "buttons" }, save, cancel),
    h("p", { class: "form-error", role: "alert" }),
  );
  form.addEventListener("change", (e) => { if (e.target.closest(".config-fields")) applyConditions(fields); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const config = configValues(fields, Boolean(channel));
    const body = channel ? { name: name.value, config } : { name: name.value, channel_type: type.channel_type, config };
    const r = await saveForm(form, "/api/v1/channels", channel?.id, body, (p) => placeErrors(form, p));
    if (!r) return;
    closeEditor();
    let card = state.cards.get(r.data.id);
    if (card) { card.ch = r.data; card.render(); } else card = addCard(r.data);
    card.say(channel ? "Saved." : nextStep(type));
    card.el.focus();
  });
  renderFields();
  fill(editor, form);
  editor.hidden = false;
  name.focus();
}

/** What to do after creating a channel of this type. */
function nextStep(type) {
  if (type.channel_type === "waha") return "Channel created. Connect WhatsApp to get the QR code to scan.";
  if (type.registers_webhook) return "Channel created. Test the connection, set up its webhook, then activate it.";
  if (type.needs_webhook) return "Channel created. Test the connection, then give the platform its webhook URL and activate it.";
  return "Channel created. Test the connection, then activate it.";
}

function closeEditor() {
  const editor = document.getElementById("channel-editor");
  editor.hidden = true;
  editor.replaceChildren();
}

let fieldSeq = 0;

/** One labelled input per field of the type; optional fields with a default are folded into "More settings". */
function configInputs(type, channel) {
  const shown = [];
  const folded = [];
  const config = (channel && channel.config) || {};
  for (const f of type.fields || []) {
    const id = `cfg-${++fieldSeq}`;
    const hintId = `${id}-hint`;
    const current = f.kind === "secret" ? undefined : valueAt(config, f.name);
    let input;
    const common = { id, name: `config.${f.name}`, "aria-describedby": f.description ? hintId : undefined,
      "aria-required": f.required ? "true" : undefined };
    if (f.kind === "choice") {
      const value = current ?? f.default ?? "";
      input = h("select", common,
        f.required ? null : h("option", { value: "" }, "—"),
        (f.choices || []).map((c) => h("option", { value: c }, c)));
      input.value = value;
    } else if (f.kind === "boolean") {
      input = h("input", { ...common, type: "checkbox", checked: Boolean(current ?? f.default) });
    } else if (f.kind === "secret") {
      const stored = channel && valueAt(config, f.name.split(".")[0]) !== undefined;
      input = h("input", { ...common, type: "password", autocomplete: "new-password",
        placeholder: stored ? "Stored; leave blank to keep it" : "" });
    } else {
      input = h("input", { ...common, type: f.kind === "number" ? "number" : "text", autocomplete: "off",
        value: current ?? (channel ? "" : f.default ?? "") });
    }
    input.dataset.kind = f.kind;
    if (current !== undefined && current !== null && current !== "") input.dataset.had = "1";
    const row = h("div", { class: "field", dataset: { field: f.name } },
      h("label", { for: id }, f.label, f.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      input,
      f.description ? h("p", { class: "hint muted", id: hintId }, f.description.replaceAll("`", "")) : null);
    if (f.when) row.dataset.when = JSON.stringify(f.when);
    (f.advanced ? folded : shown).push(row);
  }
  if (folded.length) shown.push(h("details", { class: "advanced" }, h("summary", {}, "More settings"), ...folded));
  return shown;
}

/** Show only the fields whose condition holds (a WAHA auth type's own fields); hidden ones are not sent. */
function applyConditions(container) {
  for (const row of container.querySelectorAll(".field[data-when]")) {
    const cond = JSON.parse(row.dataset.when);
    const ok = Object.entries(cond).every(([k, v]) => {
      const el = container.querySelector(`[name="config.${CSS.escape(k)}"]`);
      return el && el.value === v;
    });
    row.hidden = !ok;
    for (const el of row.querySelectorAll("input, select")) el.disabled = !ok;
  }
}

function valueAt(obj, path) {
  let v = obj;
  for (const k of path.split(".")) { if (v == null || typeof v !== "object") return undefined; v = v[k]; }
  return v;
}

function setAt(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)] = value;
}

/** The config to send. On an edit, blank secrets keep the stored ones, and a secret group (WAHA's auth) is sent
 * only when one of its secrets was typed again. */
function configValues(container, editing) {
  const out = {};
  const typedGroups = new Set();
  const entries = [];
  for (const el of container.querySelectorAll("[name^='config.']")) {
    if (el.disabled) continue;
    const path = el.name.slice("config.".length);
    const kind = el.dataset.kind;
    let value;
    if (kind === "boolean") value = el.checked;
    else if (el.value === "" && editing && el.dataset.had) value = null;  // cleared: the stored value goes
    else if (el.value === "") continue;
    else value = kind === "number" ? Number(el.value) : el.value;
    if (kind === "secret" && path.includes(".")) typedGroups.add(path.split(".")[0]);
    entries.push([path, value, kind]);
  }
  for (const [path, value] of entries) {
    const group = path.includes(".") ? path.split(".")[0] : null;
    if (editing && group && !typedGroups.has(group)) continue;
    setAt(out, path, value);
  }
  return out;
}

/** Errors name config paths the way the API validates them (WAHA's `config.auth.basic.password`, the union's tag
 * included); point each at the input it belongs to. */
function placeErrors(form, result) {
  const problem = typeof result.data === "object" ? result.data : {};
  if (!problem.errors) return result;
  const names = new Set([...form.elements].map((el) => el.name).filter(Boolean));
  const errors = problem.errors.map((e) => {
    const field = String(e.field || "").replace(/^body\./, "");
    if (names.has(field)) return e;
    const parts = field.split(".");
    for (let i = 1; i < parts.length; i++) {
      const candidate = [...parts.slice(0, i), ...parts.slice(i + 1)].join(".");
      if (names.has(candidate)) return { ...e, field: candidate };
    }
    return e;
  });
  return { ...result, data: { ...problem, errors } };
}

// -- a channel's card ------------------------------------------------------------------------------------------

function channelCard(ch) {
  const type = typeOf(ch);
  const el = h("li", { class: "channel-card", tabindex: "-1", dataset: { channelId: ch.id, status: ch.status } });
  const summary = h("div", { class: "summary" });
  const message = h("p", { class: "card-message", role: "status" });
  const actions = h("div", { class: "actions" });
  const panels = h("div", { class: "panels" });
  const card = { el, ch, timers: new Set(), say, stop, refresh, render: () => renderSummary() };

  function say(text, kind = "ok") { message.textContent = text; message.dataset.kind = kind; }
  function stop() { for (const t of card.timers) t.stop(); card.timers.clear(); }

  function renderSummary() {
    const c = card.ch;
    el.dataset.status = c.status;
    const metrics = [`${c.messages_received} received`, `${c.messages_sent} sent`];
    if (c.last_message_at) metrics.push(`last message ${when(c.last_message_at)}`);
    fill(summary,
      h("div", { class: "card-head" },
        h("h2", { class: "channel-name", dir: "auto" }, c.name),
        h("span", { class: "channel-type" }, type.display_name),
        h("span", { class: `status status-${c.status}` }, STATUS_LABEL[c.status] || c.status),
        type.requires_partner_credentials || c.requires_partner_credentials
          ? h("span", { class: "badge", title: PARTNER_NOTE }, "requires partner credentials") : null),
      h("p", { class: "metrics muted" }, metrics.join(" · ")),
      c.last_error
        ? h("p", { class: "last-error" }, `Last error${c.last_error_at ? ` (${when(c.last_error_at)})` : ""}: ${c.last_error}`)
        : null,
    );
    const active = c.status === "active";
    fill(actions,
      h("button", { type: "button", class: "secondary small edit", onclick: () => openEditor(card.ch) }, "Edit"),
      h("button", { type: "button", class: "secondary small test-connection", onclick: testConnection }, "Test connection"),
      h("button", { type: "button", class: "secondary small show-webhook", onclick: showWebhook }, "Webhook"),
      type.channel_type === "waha"
        ? h("button", { type: "button", class: "small waha-connect", onclick: () => connectWAHA(card, panel("qr")) },
          active ? "Reconnect WhatsApp" : "Connect WhatsApp")
        : null,
      active
        ? h("button", { type: "button", class: "secondary small deactivate", onclick: () => setActive(false) }, "Deactivate")
        : h("button", { type: "button", class: "small activate", onclick: () => setActive(true) }, "Activate"),
      h("button", { type: "button", class: "danger small delete", onclick: remove }, "Delete"),
    );
  }

  async function refresh() {
    const r = await api("GET", `/api/v1/channels/${card.ch.id}`);
    if (r.ok) { card.ch = r.data; renderSummary(); }
    return r;
  }

  /** A named panel under the card (test result, webhook, QR code), created on first use. */
  function panel(name) {
    let p = panels.querySelector(`[data-panel="${name}"]`);
    if (!p) { p = h("div", { class: `panel ${name}`, dataset: { panel: name } }); panels.append(p); }
    return p;
  }

  async function testConnection(e) {
    const button = e.currentTarget;
    const out = panel("test-result");
    button.disabled = true;
    fill(out, h("p", { class: "muted" }, "Testing the connection…"));
    const r = await api("POST", `/api/v1/channels/${card.ch.id}/test-connection`);
    button.disabled = false;
    if (r.ok) {
      const handle = r.data.details && r.data.details.username;
      const who = [r.data.name, handle && `@${String(handle).replace(/^@/, "")}`, r.data.external_id && `id ${r.data.external_id}`]
        .filter(Boolean).join(", ");
      fill(out, h("p", { class: "result ok", role: "status" }, `Connection works${who ? `: ${who}` : "."}`));
    } else {
      fill(out, h("p", { class: "result err", role: "alert" },
        `Connection failed: ${r.data.detail || r.data.title || `HTTP ${r.status}`}`));
    }
    await refresh();
  }

  async function showWebhook() {
    const out = panel("webhook");
    const r = await api("GET", `/api/v1/channels/${card.ch.id}/webhook-info`);
    if (!r.ok) { fill(out, h("p", { class: "result err" }, r.data.detail || "Webhook info unavailable.")); return; }
    renderWebhook(out, r.data, null);
  }

  function renderWebhook(out, info, instructions) {
    if (info.broker_subject) {
      fill(out, h("h3", {}, "Webhook"), h("p", { class: "muted" },
        `No webhook: messages arrive on the broker subject ${info.broker_subject}.`));
      return;
    }
    const rows = [];
    if (info.webhook_url) {
      rows.push(copyRow("Webhook URL", info.webhook_url, "webhook-url"));
    } else {
      rows.push(h("p", { class: "muted" }, type.channel_type === "waha"
        ? "Souk sets WAHA's webhook when you connect WhatsApp."
        : "The webhook is not set up yet."));
    }
    if (info.verify_token) rows.push(copyRow("Verify token", info.verify_token, "verify-token"));
    if (instructions) rows.push(h("p", { class: "instructions" }, instructions));
    else if (info.webhook_url && info.registered_with_platform) rows.push(h("p", { class: "muted" }, "Registered with the platform."));
    if (info.last_webhook_received) rows.push(h("p", { class: "muted" }, `Last webhook received ${when(info.last_webhook_received)}`));
    const publicUrl = h("input", { name: "webhook_url", type: "url", placeholder: "https://souk.example.com (optional)",
      id: `public-${card.ch.id}` });
    const form = h("form", { class: "configure-webhook", novalidate: true },
      h("label", { for: publicUrl.id }, "Public address of this Souk"), publicUrl,
      h("button", { type: "submit", class: "small" }, info.webhook_url ? "Set up again" : "Set up webhook"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = publicUrl.value ? { webhook_url: publicUrl.value } : undefined;
      const r = await api("POST", `/api/v1/channels/${card.ch.id}/configure-webhook`, body);
      if (!r.ok) { showProblem(form, r); return; }
      renderWebhook(out, { ...info, webhook_url: r.data.webhook_url, verify_token: r.data.verify_token ?? info.verify_token,
        registered_with_platform: r.data.registered_with_platform }, r.data.instructions);
      await refresh();
    });
    if (type.channel_type !== "waha") rows.push(form);
    if (info.webhook_url) {
      const rotate = h("button", { type: "button", class: "secondary small rotate-secret" }, "New webhook secret");
      rotate.addEventListener("click", async () => {
        if (!window.confirm("Replace the webhook secret? Souk registers it again where it can.")) return;
        const r = await api("POST", `/api/v1/channels/${card.ch.id}/rotate-webhook-secret`);
        if (!r.ok) { say(r.data.detail || `Failed (HTTP ${r.status})`, "err"); return; }
        const paste = r.data.verify_token && !r.data.registered_with_platform
          ? "Paste the new verify token in the platform's dashboard." : null;
        renderWebhook(out, r.data, paste);
        say("Webhook secret replaced.");
      });
      rows.push(h("div", { class: "actions" }, rotate));
    }
    fill(out, h("h3", {}, "Webhook"), ...rows);
  }

  async function setActive(on) {
    const r = await api("POST", `/api/v1/channels/${card.ch.id}/${on ? "activate" : "deactivate"}`);
    if (r.ok) say(on ? "Channel activated." : "Channel deactivated.");
    else say(r.data.detail || r.data.title || `Failed (HTTP ${r.status})`, "err");
    await refresh();
  }

  async function remove() {
    if (!window.confirm(`Delete the channel “${card.ch.name}”? Its conversations stay.`)) return;
    const r = await api("DELETE", `/api/v1/channels/${card.ch.id}`);
    if (!r.ok) { say(r.data.detail || `Delete failed (HTTP ${r.status})`, "err"); return; }
    dropCard(card.ch.id);
  }

  const pipeline = pipelineControl(card, say);
  renderSummary();
  fill(el, summary, actions, pipeline, type.history_import ? importControls(card) : null, message, panels);
  return card;
}

function copyRow(label, value, cls) {
  const id = `${cls}-${++fieldSeq}`;
  return h("div", { class: `copy-row ${cls}` },
    h("label", { for: id }, label),
    h("div", { class: "copy-value" },
      h("input", { id, class: cls, value, readonly: true, onfocus: (e) => e.target.select() }),
      copyButton(value)));
}

// -- pipeline association -----------------------------------------------------------------------------------------

function pipelineControl(card, say) {
  const id = `pipeline-${card.ch.id}`;
  const select = h("select", { id, class: "pipeline-select" },
    h("option", { value: "" }, "No pipeline (the default one)"),
    state.pipelines.map((p) => h("option", { value: p.id }, p.name)));
  select.value = card.ch.pipeline_id || "";
  select.addEventListener("change", async () => {
    const r = select.value
      ? await api("POST", `/api/v1/channels/${card.ch.id}/associate-pipeline`, { pipeline_id: select.value })
      : await api("POST", `/api/v1/channels/${card.ch.id}/disassociate-pipeline`);
    if (r.ok) { card.ch = r.data; say(select.value ? "Conversations go to this pipeline." : "Pipeline removed."); }
    else say(r.data.detail || `Failed (HTTP ${r.status})`, "err");
  });
  return h("div", { class: "pipeline" }, h("label", { for: id }, "Pipeline"), select);
}

// -- WAHA: the QR code to scan, refreshed before it expires, until the session works --------------------------

function connectWAHA(card, out) {
  for (const t of card.timers) if (t.kind === "qr") t.stop();
  const img = h("img", { class: "qr-image", alt: "WhatsApp login QR code", width: 240, height: 240, hidden: true });
  const countdown = h("p", { class: "qr-countdown", "aria-live": "off" });
  const status = h("p", { class: "qr-status", role: "status" }, "Starting the WhatsApp session…");
  const close = h("button", { type: "button", class: "secondary small" }, "Close");
  fill(out, h("h3", {}, "Connect WhatsApp"),
    h("p", { class: "muted" }, "On the phone: WhatsApp → Linked devices → Link a device, then scan this code."),
    img, countdown, status, close);
  out.dataset.state = "starting";

  let deadline = 0;
  let busy = false;
  let tick = null;
  let poll = null;
  const timer = {
    kind: "qr",
    stop() { clearInterval(tick); clearInterval(poll); card.timers.delete(timer); },
  };
  card.timers.add(timer);
  close.addEventListener("click", () => { timer.stop(); out.replaceChildren(); delete out.dataset.state; });

  function connected() {
    timer.stop();
    img.hidden = true;
    countdown.textContent = "";
    status.textContent = "WhatsApp is connected.";
    out.dataset.state = "connected";
    card.refresh();
  }

  function show(body) {
    if (body.session_status === "WORKING") { connected(); return; }
    if (body.qr_code) {
      img.src = body.qr_code;
      img.hidden = false;
      deadline = Date.now() + 1000 * (body.qr_code_expires_in ?? 60);
      status.textContent = body.message || "Scan the QR code with WhatsApp.";
      out.dataset.state = "scan";
      render();
    } else {
      img.hidden = true;
      status.textContent = body.message || `WAHA session is ${body.session_status}`;
      out.dataset.state = "waiting";
      deadline = Date.now() + 5000;  // no code yet: ask again shortly
    }
  }

  function render() {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    countdown.textContent = img.hidden ? "" : left ? `Expires in ${left} s` : "Getting a new code…";
    countdown.dataset.seconds = String(left);
  }

  async function call(action) {
    busy = true;
    const r = await api("POST", `/api/v1/channels/${card.ch.id}/${action}`, action === "activate-waha" ? {} : undefined);
    busy = false;
    if (!r.ok) {
      timer.stop();
      img.hidden = true;
      countdown.textContent = "";
      status.textContent = `WAHA refused: ${r.data.detail || r.data.title || `HTTP ${r.status}`}`;
      out.dataset.state = "error";
      card.refresh();
      return;
    }
    show(r.data);
  }

  tick = setInterval(() => {
    render();
    if (!busy && deadline && Date.now() >= deadline) call("refresh-qr");
  }, 1000);
  // the session turns WORKING through WAHA's webhook (or Souk's periodic check): watch the channel for it
  poll = setInterval(async () => {
    if (busy) return;
    const r = await api("GET", `/api/v1/channels/${card.ch.id}`);
    if (r.ok && (r.data.config || {}).sessionStatus === "WORKING") connected();
  }, 2000);
  call("activate-waha");
}

// -- history import: a button, then a progress bar fed by the progress endpoint until the import ends -----------

function importControls(card) {
  const ch = card.ch;
  const start = h("button", { type: "button", class: "import-start small" }, "Import history");
  const bar = h("progress", { class: "import-bar", hidden: true, "aria-label": `History import of ${ch.name}` });
  const status = h("span", { class: "import-status muted", role: "status" });
  const cancel = h("button", { type: "button", class: "import-cancel secondary small", hidden: true }, "Cancel");
  const box = h("div", { class: "import" }, start, bar, status, cancel);
  let workflowId = null;

  const describe = (p) => {
    const threads = p.chats_total == null ? `${p.chats_done} conversations` : `${p.chats_done}/${p.chats_total} conversations`;
    return `${threads} · ${p.messages_done} messages read, ${p.messages_imported} new`;
  };

  async function watch(id, quiet) {
    workflowId = id;
    const path = `/api/v1/channels/${ch.id}/import-history/${encodeURIComponent(id)}`;
    const running = (p) => p.state === "running" || p.state === "cancelling";
    const r = await follow(path, (p) => {
      if (quiet && !running(p)) return;  // an earlier import found on load shows only while it runs
      quiet = false;
      bar.hidden = !running(p);
      cancel.hidden = !running(p);
      start.disabled = running(p);
      card.el.dataset.importState = p.state;
      if (p.chats_total) { bar.max = p.chats_total; bar.value = p.chats_done; } else bar.removeAttribute("value");
      status.textContent = running(p) ? `Importing… ${describe(p)}` : `Import ${p.state}: ${describe(p)}`;
    }, (p) => !running(p));
    start.disabled = false;
    cancel.disabled = false;
    if (!r.ok) {
      bar.hidden = true;
      cancel.hidden = true;
      if (!quiet) status.textContent = "Import progress unavailable.";
      return;
    }
    card.refresh();
  }

  start.addEventListener("click", async () => {
    start.disabled = true;
    status.textContent = "Starting…";
    const r = await api("POST", `/api/v1/channels/${ch.id}/import-history`, { strategy: "all", limit: 100 });
    if (r.status === 202 || r.status === 409) { watch(r.data.workflow_id, false); return; }
    start.disabled = false;
    status.textContent = r.data.detail || `Import failed (HTTP ${r.status})`;
  });
  cancel.addEventListener("click", async () => {
    if (!workflowId) return;
    cancel.disabled = true;
    status.textContent = "Cancelling…";
    await api("DELETE", `/api/v1/channels/${ch.id}/import-history/${encodeURIComponent(workflowId)}`);
  });
  const last = ch.config && ch.config.importWorkflowId;
  if (last) watch(last, true);
  return box;
}

start();
