// The person's availability in the top bar (decision 0021). "Automatic" (until they choose): online while they use
// Souk, away while a page is open but idle, offline once every page is closed; the server decides from the
// heartbeats this sends every minute, saying whether the person used the page since the last one. A choice
// (online, away, offline) holds until changed; choosing "Automatic" gives it back to the heartbeats.
import { api } from "./lib.js";

const box = document.querySelector(".presence");
const select = document.getElementById("presence");
const BEAT_MS = 60_000;
let used = true;  // opening the page is using it

function show(agent) {
  select.value = agent.automatic ? "auto" : agent.availability;
  select.options[0].textContent = agent.automatic ? `Automatic (${agent.availability})` : "Automatic";
  box.dataset.availability = agent.availability;
}

async function beat() {
  const active = used && document.visibilityState === "visible";
  used = false;
  try {
    // plain fetch: an expired session is for the page's own calls to notice, not for a timer to act on
    const res = await fetch("/api/v1/agents/me/heartbeat", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ active }),
    });
    if (res.ok) show(await res.json());
  } catch { /* offline for a moment: the next beat says it again */ }
}

if (select) {
  for (const kind of ["pointerdown", "keydown", "wheel", "touchstart"]) {
    addEventListener(kind, () => { used = true; }, { passive: true, capture: true });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") { used = true; beat(); }
  });
  select.addEventListener("change", async () => {
    const body = select.value === "auto" ? { automatic: true } : { availability: select.value };
    select.disabled = true;
    const r = await api("PUT", `/api/v1/agents/${box.dataset.user}/availability`, body);
    select.disabled = false;
    if (r.ok) show(r.data);
    else { select.title = r.data.detail || "not saved"; beat(); }
  });
  beat();
  setInterval(beat, BEAT_MS);
}
