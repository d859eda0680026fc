// Reports: which ads and posts bring leads, orders and revenue (a bar chart in inline SVG with the same figures in a
// table beside it), conversation volume per day, and conversations and response times over the chosen period.
import { api, h } from "/static/lib.js";
import { field, select, table, query, setQuery, statusLine } from "/static/pages/commerce-kit.js";

const root = document.getElementById("page-root");
const SVG = "http://www.w3.org/2000/svg";
const METRICS = [["leads", "Leads"], ["conversations", "Conversations"], ["orders", "Orders"], ["revenue", "Revenue"]];
const q = query();
const state = { days: [7, 30, 90].includes(Number(q.days)) ? Number(q.days) : 30, metric: METRICS.some(([m]) => m === q.metric) ? q.metric : "leads" };

const notice = statusLine("notice");
const attribution = h("section", { id: "attribution", "aria-labelledby": "attribution-title" });
const volume = h("section", { id: "volume", "aria-labelledby": "volume-title" });
const conversations = h("section", { id: "conversation-stats", "aria-labelledby": "conversations-title" });
root.replaceChildren(notice, controls(), attribution, conversations, volume);
let channels = new Map();
api("GET", "/api/v1/channels?limit=200").then((r) => {
  if (r.ok) channels = new Map(r.data.items.map((c) => [c.id, c.name]));
  load();
});

function controls() {
  const days = select("days", [[7, "Last 7 days"], [30, "Last 30 days"], [90, "Last 90 days"]], state.days);
  const metric = select("metric", METRICS, state.metric);
  const form = h("form", { class: "filters", "aria-label": "Report period" }, field("Period", days), field("Chart attribution by", metric));
  form.addEventListener("change", () => {
    Object.assign(state, { days: Number(days.value), metric: metric.value });
    setQuery({ days: state.days, metric: state.metric }, true);
    load();
  });
  form.addEventListener("submit", (e) => e.preventDefault());
  return form;
}

function load() {
  loadAttribution();
  loadConversations();
  loadVolume();
}

// -- charts: inline SVG, described by a title and the table beside it ------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/** Horizontal bars, one per row: `[{label, value, text}]`. */
function barChart(id, title, rows) {
  const labelW = 150, barW = 270, rowH = 28, top = 8;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const height = top * 2 + rows.length * rowH;
  const titleId = `${id}-title`;
  const chart = svg("svg", { id, viewBox: `0 0 ${labelW + barW + 70} ${height}`, role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId }, title),
    svg("line", { class: "axis", x1: labelW, x2: labelW, y1: 0, y2: height }));
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const w = Math.max(r.value > 0 ? 2 : 0, (r.value / max) * barW);
    const name = r.label.length > 22 ? `${r.label.slice(0, 21)}…` : r.label;
    chart.append(
      svg("text", { x: labelW - 6, y: y + rowH / 2 + 4, "text-anchor": "end" }, name),
      svg("rect", { class: "bar-a", x: labelW, y: y + 4, width: w.toFixed(1), height: rowH - 8, rx: 2, "data-value": r.value }),
      svg("text", { x: labelW + w + 6, y: y + rowH / 2 + 4 }, r.text ?? String(r.value)),
    );
  });
  return h("figure", { class: "chart" }, chart, h("figcaption", {}, title));
}

/** Two bars a day (inbound, outbound) along a time axis. */
function dayChart(id, title, days) {
  const left = 36, bottom = 22, height = 200, width = 640;
  const colW = Math.min(48, (width - left - 10) / Math.max(1, days.length));
  const max = Math.max(1, ...days.flatMap((d) => [d.inbound, d.outbound]));
  const scale = (v) => (v / max) * (height - bottom - 10);
  const titleId = `${id}-title`;
  const chart = svg("svg", { id, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId }, title),
    svg("line", { class: "axis", x1: left, x2: width, y1: height - bottom, y2: height - bottom }),
    svg("text", { x: left - 4, y: 14, "text-anchor": "end" }, String(max)),
    svg("text", { x: left - 4, y: height - bottom, "text-anchor": "end" }, "0"));
  const every = Math.ceil(days.length / 8);
  days.forEach((d, i) => {
    const x = left + i * colW;
    const bw = (colW - 4) / 2;
    chart.append(
      svg("rect", { class: "bar-a", x: x + 2, y: height - bottom - scale(d.inbound), width: bw, height: scale(d.inbound) }, svg("title", {}, `${d.day}: ${d.inbound} in`)),
      svg("rect", { class: "bar-b", x: x + 2 + bw, y: height - bottom - scale(d.outbound), width: bw, height: scale(d.outbound) }, svg("title", {}, `${d.day}: ${d.outbound} out`)),
    );
    if (i % every === 0) chart.append(svg("text", { x: x + colW / 2, y: height - 6, "text-anchor": "middle" }, d.day.slice(5)));
  });
  return h("figure", { class: "chart" }, chart,
    h("ul", { class: "legend" }, h("li", {}, h("i", { style: "background:#0b6e4f" }), "Received"), h("li", {}, h("i", { style: "background:#7fb8a4" }), "Sent")),
    h("figcaption", {}, title));
}

// -- attribution -------------------------------------------------------------------------------------------------

async function loadAttribution() {
  const since = new Date(Date.now() - state.days * 86400_000).toISOString();
  const r = await api("GET", `/api/v1/reports/attribution?${new URLSearchParams({ since })}`);
  const heading = h("h2", { id: "attribution-title" }, "Attribution: ads and posts");
  if (!r.ok) { attribution.replaceChildren(heading, h("p", { class: "form-error", role: "alert" }, r.data.detail || "Could not load the report.")); return; }
  const sources = [
    ...r.data.ads.map((a) => ({ ...a, kind: "Ad" })),
    ...r.data.posts.map((p) => ({ ...p, kind: "Post" })),
  ];
  if (!sources.length) {
    attribution.replaceChildren(heading, h("p", { class: "muted empty" }, "No message came from an ad or a post in this period."));
    return;
  }
  const metricLabel = METRICS.find(([m]) => m === state.metric)[1];
  const sorted = [...sources].sort((a, b) => Number(b[state.metric]) - Number(a[state.metric]));
  const nameOf = (s) => `${s.kind}: ${s.name || s.external_id}`;
  const chart = barChart("attribution-chart", `${metricLabel} per ad and post, last ${state.days} days`,
    sorted.map((s) => ({ label: nameOf(s), value: Number(s[state.metric]), text: state.metric === "revenue" ? String(s.revenue) : undefined })));
  const rows = sorted.map((s) => [nameOf(s), s.platform || "", String(s.leads), String(s.conversations), String(s.messages), String(s.orders), String(s.revenue)]);
  attribution.replaceChildren(
    heading,
    h("div", { class: "chart-pair" },
      chart,
      table("Attribution figures", ["Source", "Platform", "Leads", "Conversations", "Messages", "Orders", "Revenue"], rows, { id: "attribution-table" })),
  );
}

// -- conversations and response times ----------------------------------------------------------------------------

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

const stat = (value, label) => h("div", { class: "stat" }, h("strong", {}, String(value)), h("span", {}, label));

async function loadConversations() {
  const params = new URLSearchParams({ days: state.days });
  const [c, t] = await Promise.all([
    api("GET", `/api/v1/reports/conversations?${params}`),
    api("GET", `/api/v1/reports/response-times?${params}`),
  ]);
  const parts = [h("h2", { id: "conversations-title" }, `Conversations and response times, last ${state.days} days`)];
  if (c.ok) {
    parts.push(h("div", { class: "stats", id: "conversation-figures" },
      stat(c.data.started, "started"), stat(c.data.resolved, "resolved"), stat(c.data.open_unassigned, "open, unassigned"),
      ...Object.entries(c.data.by_status).map(([s, n]) => stat(n, `now ${s}`))));
  }
  if (t.ok) {
    const f = t.data.first_response_seconds, res = t.data.resolution_seconds;
    parts.push(table("Response times", ["Measure", "Conversations", "Median", "Average", "90th percentile"], [
      ["First response", String(f.count), duration(f.median), duration(f.average), duration(f.p90)],
      ["Resolution", String(res.count), duration(res.median), duration(res.average), duration(res.p90)],
    ], { id: "response-times" }), h("p", { class: "muted" }, `${t.data.unanswered} of ${t.data.conversations} conversations still wait for a first answer.`));
  }
  conversations.replaceChildren(...parts);
}

async function loadVolume() {
  const r = await api("GET", `/api/v1/reports/channel-volume?${new URLSearchParams({ days: state.days })}`);
  const heading = h("h2", { id: "volume-title" }, "Messages per day");
  if (!r.ok) { volume.replaceChildren(heading, h("p", { class: "form-error", role: "alert" }, r.data.detail || "Could not load the report.")); return; }
  const byDay = new Map();
  const byChannel = new Map();
  for (const row of r.data) {
    const d = byDay.get(row.day) || { day: row.day, inbound: 0, outbound: 0 };
    d.inbound += row.inbound; d.outbound += row.outbound;
    byDay.set(row.day, d);
    const c = byChannel.get(row.channel_id) || { inbound: 0, outbound: 0 };
    c.inbound += row.inbound; c.outbound += row.outbound;
    byChannel.set(row.channel_id, c);
  }
  if (!byDay.size) { volume.replaceChildren(heading, h("p", { class: "muted empty" }, "No messages in this period.")); return; }
  // every day of the period, quiet days included, so the axis is time
  const days = [];
  for (let i = state.days; i >= 0; i--) {
    const day = new Date(Date.now() - i * 86400_000).toISOString().slice(0, 10);
    days.push(byDay.get(day) || { day, inbound: 0, outbound: 0 });
  }
  volume.replaceChildren(
    heading,
    h("div", { class: "chart-pair" },
      dayChart("volume-chart", `Messages received and sent per day, last ${state.days} days`, days),
      table("Messages per channel", ["Channel", "Received", "Sent"],
        [...byChannel].map(([id, c]) => [channels.get(id) || id.slice(0, 8), String(c.inbound), String(c.outbound)]), { id: "volume-table" })),
    h("details", {}, h("summary", {}, "Figures per day"),
      table("Messages per day", ["Day", "Received", "Sent"], [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day)).map((d) => [d.day, String(d.inbound), String(d.outbound)]))),
  );
}
