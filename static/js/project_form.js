// The project form: a preview of the instructions as annotators will see them, rendered by the
// ranking page's own renderer (static/js/markdown.js: sanitised Markdown, never executed).
(function () {
  "use strict";
  const toggle = document.getElementById("instructions-preview-toggle");
  const box = document.getElementById("instructions-preview");
  const input = document.getElementById("id_instructions");
  if (!toggle || !box || !input) return;
  function render() {
    const text = input.value || "(no instructions)";
    if (window.RankForgeText) window.RankForgeText.render(box, text, { markdown: true });
    else box.textContent = text;
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
