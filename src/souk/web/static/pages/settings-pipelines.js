// Settings → Pipelines: each pipeline with its ordered stages and the team its new conversations go to; create,
// rename, add / rename / reorder / remove stages, make one the default, delete. Channels pick their pipeline on
// Settings → Channels.
import { api, h, saveForm } from "/static/lib.js";

const root = document.getElementById("page-root");
const fill = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
const DEFAULT_STAGES = ["New", "In progress", "Won", "Lost"];  // what the API gives a pipeline created without stages
const state = { pipelines: [], teams: [] };

async function start() {
  const [pipelines, teams] = await Promise.all([api("GET", "/api/v1/pipelines"), api("GET", "/api/v1/teams")]);
  state.teams = teams.ok ? teams.data : [];
  const add = h("button", { type: "button", id: "add-pipeline", onclick: () => openEditor(null) }, "Add pipeline");
  const editor = h("section", { id: "pipeline-editor", class: "editor", hidden: true, "aria-label": "Pipeline form" });
  const list = h("ul", { id: "pipeline-list", class: "cards", "aria-label": "Pipelines" });
  fill(root, h("div", { class: "toolbar" }, add), editor, list);
  if (!pipelines.ok) { list.append(h("li", { class: "empty" }, "Pipelines could not be loaded.")); return; }
  state.pipelines = pipelines.data;
  renderList();
}

async function reload() {
  const r = await api("GET", "/api/v1/pipelines");
  if (r.ok) { state.pipelines = r.data; renderList(); }
}

function teamName(id) {
  const team = state.teams.find((t) => t.id === id);
  return team ? team.name : "";
}

function renderList() {
  const list = document.getElementById("pipeline-list");
  if (!state.pipelines.length) {
    fill(list, h("li", { class: "empty muted" }, "No pipelines yet: conversations go to the default one once it exists."));
    return;
  }
  fill(list, state.pipelines.map((p) => {
    const message = h("p", { class: "card-message", role: "status" });
    const li = h("li", { class: "pipeline-card", dataset: { pipelineId: p.id } },
      h("div", { class: "card-head" },
        h("h2", { dir: "auto" }, p.name),
        p.is_default ? h("span", { class: "status status-active" }, "Default") : null),
      h("ul", { class: "stages-inline", "aria-label": `Stages of ${p.name}` }, p.stages.map((s) => h("li", { dir: "auto" }, s.name))),
      p.team_id ? h("p", { class: "muted" }, `Team: ${teamName(p.team_id)}`) : h("p", { class: "muted" }, "No team"),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary small edit", onclick: () => openEditor(p) }, "Edit"),
        p.is_default ? null : h("button", { type: "button", class: "secondary small make-default", onclick: async () => {
          const r = await api("PATCH", `/api/v1/pipelines/${p.id}`, { is_default: true });
          if (r.ok) await reload(); else message.textContent = r.data.detail || `Failed (HTTP ${r.status})`;
        } }, "Make default"),
        h("button", { type: "button", class: "danger small delete", onclick: async () => {
          if (!window.confirm(`Delete the pipeline “${p.name}”?`)) return;
          const r = await api("DELETE", `/api/v1/pipelines/${p.id}`);
          if (r.ok) await reload(); else message.textContent = r.data.detail || `Failed (HTTP ${r.status})`;
        } }, "Delete")),
      message);
    return li;
  }));
}

function openEditor(pipeline) {
  const editor = document.getElementById("pipeline-editor");
  const form = h("form", { id: "pipeline-form", novalidate: true });
  const name = h("input", { id: "pipeline-name", name: "name", value: pipeline ? pipeline.name : "", autocomplete: "off" });
  const stages = h("ol", { class: "stage-list", "aria-label": "Stages, in order" });
  const team = h("select", { id: "pipeline-team", name: "team_id" },
    h("option", { value: "" }, "No team"), state.teams.map((t) => h("option", { value: t.id }, t.name)));
  team.value = (pipeline && pipeline.team_id) || "";
  const isDefault = h("input", { id: "pipeline-default", name: "is_default", type: "checkbox",
    checked: Boolean(pipeline && pipeline.is_default), disabled: Boolean(pipeline && pipeline.is_default) });

  function renumber() {
    [...stages.children].forEach((li, i) => {
      const input = li.querySelector("input");
      input.name = `stages.${i}.name`;
      input.setAttribute("aria-label", `Stage ${i + 1}`);
      const slot = li.querySelector(".field-error");
      if (slot) slot.dataset.errorFor = input.name;
    });
  }
  function stageRow(value) {
    const li = h("li", {},
      h("input", { value, autocomplete: "off", dir: "auto" }),
      h("button", { type: "button", class: "secondary small move-up", "aria-label": "Move up", onclick: () => {
        if (li.previousElementSibling) { li.previousElementSibling.before(li); renumber(); }
      } }, "↑"),
      h("button", { type: "button", class: "secondary small move-down", "aria-label": "Move down", onclick: () => {
        if (li.nextElementSibling) { li.nextElementSibling.after(li); renumber(); }
      } }, "↓"),
      h("button", { type: "button", class: "secondary small remove-stage", "aria-label": "Remove stage", onclick: () => {
        li.remove(); renumber();
      } }, "Remove"));
    return li;
  }
  for (const s of pipeline ? pipeline.stages.map((x) => x.name) : DEFAULT_STAGES) stages.append(stageRow(s));
  renumber();
  const addStage = h("button", { type: "button", class: "secondary small add-stage", onclick: () => {
    stages.append(stageRow(""));
    renumber();
    stages.lastElementChild.querySelector("input").focus();
  } }, "Add stage");

  const save = h("button", { type: "submit" }, pipeline ? "Save" : "Create pipeline");
  fill(form,
    h("h2", {}, pipeline ? `Edit ${pipeline.name}` : "Add a pipeline"),
    h("label", { for: "pipeline-name" }, "Name"), name,
    h("label", {}, "Stages"), stages, addStage,
    h("label", { for: "pipeline-team" }, "New conversations go to team"), team,
    h("label", { for: "pipeline-default", class: "inline" }, isDefault, " Default pipeline of the shop"),
    h("div", { class: "buttons" }, save,
      h("button", { type: "button", class: "secondary", onclick: close }, "Cancel")),
    h("p", { class: "form-error", role: "alert" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      name: name.value,
      stages: [...stages.querySelectorAll("input")].map((i) => ({ name: i.value.trim() })),
      team_id: team.value || null,
    };
    if (isDefault.checked && !isDefault.disabled) body.is_default = true;
    if (!(await saveForm(form, "/api/v1/pipelines", pipeline?.id, body))) return;
    close();
    await reload();
  });
  fill(editor, form);
  editor.hidden = false;
  name.focus();
}

function close() {
  const editor = document.getElementById("pipeline-editor");
  editor.hidden = true;
  editor.replaceChildren();
}

start();
