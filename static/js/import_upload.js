// The import page: a file dropped anywhere on the upload card is the file to upload (the file input
// alone takes a drop only on itself). The form is still sent by its button, with the CSRF token.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("id_file");
  const chosen = document.getElementById("upload-chosen");
  if (!form || !input) return;
  function show() {
    if (chosen) chosen.textContent = input.files.length ? `Chosen: ${input.files[0].name}` : "";
  }
  for (const name of ["dragenter", "dragover"]) {
    form.addEventListener(name, (event) => { event.preventDefault(); form.classList.add("drop-active"); });
  }
  form.addEventListener("dragleave", (event) => {
    if (!form.contains(event.relatedTarget)) form.classList.remove("drop-active");
  });
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("drop-active");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
  input.addEventListener("change", show);
})();
