// The AI agent: which model answers (or the offline agent), when it answers, when it hands over and to whom, the
// shop's own instructions, and on which channels it answers at all.
import { api, h } from "/static/lib.js";
import { root, field, select, statusLine, answered } from "/static/admin.js";

const page = root();
const status = statusLine();
const [settings, users, channels] = await Promise.all([
  api("GET", "/api/v1/ai-agent/settings"),
  api("GET", "/api/v1/users?limit=200"),
  api("GET", "/api/v1/channels?limit=200"),
]);
if (!settings.ok) { page.append(status); status.fail(settings); throw new Error("no settings"); }
const s = settings.data;
const LANGS = { en: "English", ar: "Arabic" };

const provider = select("provider", [["offline", "Offline: templates and the shop's tools, no model"],
  ["openai", "A model on an OpenAI-compatible server (OpenAI, Gemini, Ollama, vLLM…)"]], s.provider);
const baseUrl = h("input", { name: "base_url", type: "url", value: s.base_url ?? "", placeholder: "https://api.openai.com/v1" });
const model = h("input", { name: "model", value: s.model ?? "", placeholder: "gpt-4o-mini" });
const apiKey = h("input", { name: "api_key", type: "password", autocomplete: "off",
  placeholder: s.api_key ? `set (${s.api_key}); leave empty to keep it` : "none set" });
const clearKey = h("input", { type: "checkbox", name: "clear_api_key" });
const timeout = h("input", { name: "timeout_seconds", type: "number", min: 1, max: 120, step: "any", value: s.timeout_seconds });
const modelBox = h("fieldset", { class: "model" }, h("legend", {}, "Model"),
  field("Server base URL", baseUrl), field("Model", model),
  field("API key", apiKey, "Stored encrypted and never shown again."),
  s.api_key ? h("label", { class: "check" }, clearKey, "Remove the stored key") : "",
  field("Time limit (seconds)", timeout, "After this the offline agent answers instead."));

const instructions = h("textarea", { name: "instructions", rows: 5, maxlength: 4000, dir: "auto",
  placeholder: "Speak warmly and briefly. We deliver in Cairo and Giza only. Never promise a delivery date." }, s.instructions ?? "");
const budget = h("input", { name: "reply_budget", type: "number", min: 1, max: 1000, value: s.reply_budget });
const assignee = select("handoff_assignee", [["", "Nobody: it waits unassigned"],
  ...(users.ok ? users.data.items : []).filter((u) => u.is_active).map((u) => [u.email, u.name ? `${u.name} <${u.email}>` : u.email])],
  s.handoff_assignee ?? "");
const hoursMode = select("hours_mode", [["always", "Always"], ["outside_business_hours", "Outside business hours only"],
  ["within_business_hours", "Within business hours only"]], s.hours_mode);
const hours = h("input", { name: "business_hours", value: s.business_hours ?? "", placeholder: "mon-fri 09:00-18:00; sat 10:00-14:00" });
const timezone = h("input", { name: "timezone", value: s.timezone, placeholder: "Asia/Riyadh", list: "zones" });
const zones = h("datalist", { id: "zones" },
  ...(Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []).map((z) => h("option", { value: z })));

const problems = h("div", { id: "agent-problems", role: "alert" });
const form = h("form", { id: "agent-form", class: "card", novalidate: true, onsubmit: save },
  problems,
  field("Who answers", provider),
  modelBox,
  field("Instructions", instructions, "Your own words for the model: tone, policies, what to avoid. The built-in rules "
    + "(only facts from the catalog and orders, hand over when asked) always come first."),
  h("fieldset", {}, h("legend", {}, "When it answers"),
    field("Hours", hoursMode), field("Business hours", hours, "Days and times, separated by ;"), field("Time zone", timezone), zones),
  h("fieldset", {}, h("legend", {}, "Handing over to a person"),
    field("Bot replies per conversation", budget, "After this many replies a person takes over."),
    field("Hand over to", assignee, "Customers who ask for a person, complain or are angry are always handed over.")),
  h("p", { class: "muted" }, `Languages: ${s.languages.map((l) => LANGS[l] || l).join(", ")}, detected per message.`),
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Save settings")));

const channelList = h("div", { id: "agent-channels" });
page.append(form, status, h("h2", {}, "Channels the agent answers on"), channelList);

function showProblems(list) {
  problems.replaceChildren(...(list.length ? [h("p", { class: "form-error" },
    "The agent's settings need attention: " + list.map((p) => `${p.field}: ${p.message}`).join("; "))] : []));
}

function toggleModel() { modelBox.hidden = provider.value !== "openai"; }
provider.addEventListener("change", toggleModel);
toggleModel();
showProblems(s.problems);

async function save(ev) {
  ev.preventDefault();
  const orNull = (el) => (el.value.trim() === "" ? null : el.value.trim());
  const body = {
    provider: provider.value,
    instructions: orNull(instructions),
    reply_budget: budget.value ? Number(budget.value) : null,
    handoff_assignee: orNull(assignee),
    hours_mode: hoursMode.value,
    business_hours: orNull(hours),
    timezone: orNull(timezone),
  };
  if (provider.value === "openai") {
    Object.assign(body, { base_url: orNull(baseUrl), model: orNull(model),
      timeout_seconds: timeout.value ? Number(timeout.value) : null });
    if (apiKey.value) body.api_key = apiKey.value;
  }
  if (clearKey.checked) body.api_key = null;
  const r = await api("PUT", "/api/v1/ai-agent/settings", body);
  if (!answered(form, r)) return;
  apiKey.value = "";
  clearKey.checked = false;
  apiKey.placeholder = r.data.api_key ? `set (${r.data.api_key}); leave empty to keep it` : "none set";
  showProblems(r.data.problems);
  status.say("Saved the AI agent's settings.");
}

function renderChannels() {
  if (!channels.ok) { channelList.replaceChildren(h("p", { class: "muted" }, "Channels could not be loaded.")); return; }
  const items = channels.data.items || [];
  if (!items.length) { channelList.replaceChildren(h("p", { class: "muted" }, "No channels yet.")); return; }
  channelList.replaceChildren(h("ul", { class: "plain" }, ...items.map((c) => h("li", {},
    h("label", { class: "check" },
      h("input", {
        type: "checkbox", checked: c.ai_enabled, onchange: async (ev) => {
          const r = await api("PATCH", `/api/v1/channels/${c.id}`, { ai_enabled: ev.target.checked });
          if (!r.ok) { ev.target.checked = c.ai_enabled; status.fail(r); return; }
          c.ai_enabled = r.data.ai_enabled;
          status.say(`The agent ${c.ai_enabled ? "answers" : "no longer answers"} on ${c.name}.`);
        },
      }),
      `${c.name} `, h("span", { class: "muted" }, `(${c.channel_type})`))))));
}
renderChannels();
