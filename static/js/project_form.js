// The project form: a preview of the instructions as annotators will see them.
(function () {
  "use strict";
  const toggle = document.getElementById("instructions-preview-toggle");
  const box = document.getElementById("instructions-preview");
  const input = document.getElementById("id_instructions");
  if (!toggle || !box || !input) return;
  function render() {
    // Text only: whatever the instructions hold is shown, never run.
    box.textContent = input.value || "(no instructions)";
  }
  toggle.addEventListener("click", () => {
    const open = box.hidden;
    box.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide preview" : "Preview";
    if (open) render();
  });
  input.addEventListener("input", () => { if (!box.hidden) render(); });
})();
