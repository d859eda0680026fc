// The inbox shell; conversation views attach here.
document.getElementById("logout").addEventListener("click", async () => {
  await fetch("/api/v1/auth/logout", { method: "POST" });
  window.location = "/login";
});
