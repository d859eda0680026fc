// What every signed-in page shares: log out, and the person's availability.
import "./presence.js";

document.getElementById("logout").addEventListener("click", async () => {
  await fetch("/api/v1/auth/logout", { method: "POST" });
  window.location = "/login";
});
