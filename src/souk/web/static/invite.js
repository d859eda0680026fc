// Accept an invitation: the token comes from the link, the person chooses a name and a password, the API creates
// the user with the invited role and sets the session cookie; then the inbox.
import { h, showProblem, clearProblem } from "/static/lib.js";

const form = document.getElementById("invite-form");
const token = decodeURIComponent(location.pathname.split("/").pop());

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearProblem(form);
  if (form.password.value !== form.password2.value) {
    showProblem(form, { ok: false, status: 422, data: { detail: "The passwords differ.", errors: [
      { field: "password2", message: "not the same as the password above" }] } });
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const res = await fetch("/api/v1/invites/accept", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ token, name: form.elements.namedItem("name").value.trim(), password: form.password.value }),
  });
  button.disabled = false;
  if (res.ok) { window.location = "/inbox"; return; }
  const data = await res.json().catch(() => ({ detail: `Failed (HTTP ${res.status}).` }));
  if (res.status === 410) {
    form.replaceWith(h("section", { id: "invite-problem", class: "invite-problem", role: "alert" },
      h("h2", {}, "This link cannot be used"), h("p", {}, data.detail || "The invitation is no longer valid."),
      h("p", {}, h("a", { href: "/login" }, "Go to the login page"))));
    return;
  }
  showProblem(form, { ok: false, status: res.status, data });
});
