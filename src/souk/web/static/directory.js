// The tenant's people, teams, channels and labels, fetched once per page and shared by the inbox's modules (the
// list's filters and names, the thread's actions). `reload(kind)` forgets one list so the next read fetches it again.
import { api } from "./lib.js";

const cache = new Map();

const asList = (data) => (Array.isArray(data) ? data : (data && data.items) || []);

async function fetchPeople() {
  // admins may list every user; everybody may list the agents
  const users = await api("GET", "/api/v1/users?limit=200");
  if (users.ok) return asList(users.data).filter((u) => u.is_active !== false);
  const agents = await api("GET", "/api/v1/agents");
  return agents.ok ? asList(agents.data) : [];
}

const FETCH = {
  people: fetchPeople,
  teams: async () => asList((await api("GET", "/api/v1/teams")).data),
  channels: async () => asList((await api("GET", "/api/v1/channels?limit=200")).data),
  labels: async () => asList((await api("GET", "/api/v1/labels")).data),
};

/** One of "people", "teams", "channels", "labels": a promise of the list (fetched once). */
export function load(kind) {
  if (!cache.has(kind)) cache.set(kind, FETCH[kind]().catch(() => []));
  return cache.get(kind);
}

export function reload(kind) {
  cache.delete(kind);
  return load(kind);
}

/** The signed-in person's id (empty when the page is used with an API key). */
export const me = document.getElementById("conversations")?.dataset.me || "";

/** A person's name from the loaded list, or a short fallback. */
export function personName(people, id) {
  if (!id) return "";
  if (id === me) return "you";
  const p = people.find((x) => x.id === id);
  return p ? p.name || p.email : "someone";
}
