// Log in through the JSON API; show field errors next to their field; go back where an expired session left off.
const form = document.getElementById("login-form");
const next = new URLSearchParams(location.search).get("next");
const target = next && next.startsWith("/") && !next.startsWith("//") ? next : "/inbox";
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  for (const id of ["email-error", "password-error", "form-error"]) document.getElementById(id).textContent = "";
  const body = { email: form.email.value, password: form.password.value };
  const res = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (res.ok) { window.location = target; return; }
  const problem = await res.json().catch(() => ({ detail: "login failed" }));
  let shown = false;
  for (const e of problem.errors || []) {
    const el = document.getElementById(`${e.field}-error`);
    if (el) { el.textContent = e.message; shown = true; }
  }
  if (!shown) document.getElementById("form-error").textContent = problem.detail || "login failed";
});
