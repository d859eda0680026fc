// Settings → Teams: each team with its members and how it assigns conversations (by hand, round robin, or to the
// member with the fewest open ones, up to a cap); create, edit, delete.
import { api, h, saveForm } from "/static/lib.js";

const root = document.getElementById("page-root");
const fill = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
const MODES = {
  manual: "By hand",
  round_robin: "Round robin",
  least_open: "Fewest open conversations",
};
const state = { teams: [], people: [] };

async function start() {
  const [teams, users] = await Promise.all([api("GET", "/api/v1/teams"), api("GET", "/api/v1/users?limit=100")]);
  // admins see every person; otherwise the agents list is what there is to pick from
  const people = users.ok ? users.data.items.filter((u) => u.is_active) : ((await api("GET", "/api/v1/agents")).data || []);
  state.people = people;
  const add = h("button", { type: "button", id: "add-team", onclick: () => openEditor(null) }, "Add team");
  const editor = h("section", { id: "team-editor", class: "editor", hidden: true, "aria-label": "Team form" });
  const list = h("ul", { id: "team-list", class: "cards", "aria-label": "Teams" });
  fill(root, h("div", { class: "toolbar" }, add), editor, list);
  if (!teams.ok) { list.append(h("li", { class: "empty" }, "Teams could not be loaded.")); return; }
  state.teams = teams.data;
  renderList();
}

async function reload() {
  const r = await api("GET", "/api/v1/teams");
  if (r.ok) { state.teams = r.data; renderList(); }
}

function personName(id) {
  const p = state.people.find((x) => x.id === id);
  return p ? p.name || p.email : "someone no longer here";
}

function renderList() {
  const list = document.getElementById("team-list");
  if (!state.teams.length) {
    fill(list, h("li", { class: "empty muted" }, "No teams yet. A team shares conversations among its members."));
    return;
  }
  fill(list, state.teams.map((t) => {
    const message = h("p", { class: "card-message", role: "status" });
    const members = t.member_ids.map(personName);
    return h("li", { class: "team-card", dataset: { teamId: t.id } },
      h("div", { class: "card-head" },
        h("h2", { dir: "auto" }, t.name),
        h("span", { class: "status" }, MODES[t.assignment] || t.assignment)),
      h("p", { class: "muted" },
        members.length ? `Members: ${members.join(", ")}` : "No members yet",
        t.max_open_per_agent ? ` · at most ${t.max_open_per_agent} open conversations each` : ""),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary small edit", onclick: () => openEditor(t) }, "Edit"),
        h("button", { type: "button", class: "danger small delete", onclick: async () => {
          if (!window.confirm(`Delete the team “${t.name}”? Its conversations stay.`)) return;
          const r = await api("DELETE", `/api/v1/teams/${t.id}`);
          if (r.ok) await reload(); else message.textContent = r.data.detail || `Failed (HTTP ${r.status})`;
        } }, "Delete")),
      message);
  }));
}

function openEditor(team) {
  const editor = document.getElementById("team-editor");
  const form = h("form", { id: "team-form", novalidate: true });
  const name = h("input", { id: "team-name", name: "name", value: team ? team.name : "", autocomplete: "off" });
  const mode = h("select", { id: "team-assignment", name: "assignment" },
    Object.entries(MODES).map(([value, label]) => h("option", { value }, label)));
  mode.value = team ? team.assignment : "manual";
  const cap = h("input", { id: "team-cap", name: "max_open_per_agent", type: "number", min: "1",
    value: team && team.max_open_per_agent ? String(team.max_open_per_agent) : "", placeholder: "No limit" });
  const chosen = new Set(team ? team.member_ids : []);
  const members = h("fieldset", { class: "members" }, h("legend", {}, "Members"),
    state.people.length
      ? state.people.map((p) => h("label", {},
        h("input", { type: "checkbox", name: "member_ids", value: p.id, checked: chosen.has(p.id) }),
        `${p.name || p.email}`, p.name ? h("span", { class: "muted" }, ` ${p.email}`) : null))
      : h("p", { class: "muted" }, "No people to add yet: invite them under Users."));
  const save = h("button", { type: "submit" }, team ? "Save" : "Create team");
  fill(form,
    h("h2", {}, team ? `Edit ${team.name}` : "Add a team"),
    h("label", { for: "team-name" }, "Name"), name,
    h("label", { for: "team-assignment" }, "Assignment"), mode,
    h("p", { class: "hint muted" }, "Round robin and fewest-open assign new conversations to online members."),
    h("label", { for: "team-cap" }, "Open conversations per member at most"), cap,
    members,
    h("div", { class: "buttons" }, save, h("button", { type: "button", class: "secondary", onclick: close }, "Cancel")),
    h("p", { class: "form-error", role: "alert" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      name: name.value,
      assignment: mode.value,
      max_open_per_agent: cap.value ? Number(cap.value) : null,
      member_ids: [...form.querySelectorAll("input[name=member_ids]:checked")].map((i) => i.value),
    };
    if (!(await saveForm(form, "/api/v1/teams", team?.id, body))) return;
    close();
    await reload();
  });
  fill(editor, form);
  editor.hidden = false;
  name.focus();
}

function close() {
  const editor = document.getElementById("team-editor");
  editor.hidden = true;
  editor.replaceChildren();
}

start();
