// feedwall admin: small progressive enhancements; every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons next to setup snippets.
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.addEventListener("click", async () => {
      const el = document.getElementById(b.dataset.copy);
      if (!el) return;
      try {
        await navigator.clipboard.writeText(el.textContent);
        b.textContent = "Copied";
      } catch (_) {
        b.textContent = "Select and copy";
      }
    });
  }
  // Confirm destructive actions.
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  }
});
