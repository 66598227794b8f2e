// The import job page: while the file is checked or imported, poll its status, move the progress bar,
// and reload the page (server-rendered: preview, result or error) once the state changes.
(function () {
  "use strict";
  const source = document.getElementById("import-status");
  if (!source) return;
  const status = JSON.parse(source.textContent);
  const bar = document.getElementById("import-progress");
  const text = document.getElementById("import-progress-text");
  if (status.state !== "checking" && status.state !== "importing") return;

  function show(progress) {
    if (!progress || !bar) return;
    bar.value = Math.max(0, Math.min(1, progress.fraction || 0));
    if (text) {
      const percent = Math.round(100 * bar.value);
      const counted = progress.phase === "writing"
        ? `${(progress.done || 0).toLocaleString()} of ${(progress.total || 0).toLocaleString()} prompts written`
        : `${(progress.done || 0).toLocaleString()} records checked`;
      text.textContent = `${percent}% · ${counted}`;
    }
  }
  let delay = 400;
  async function poll() {
    try {
      const response = await fetch(status.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const now = await response.json();
        show(now.progress);
        if (now.state !== status.state) { window.location.reload(); return; }
      }
    } catch (error) { /* the server restarting: try again */ }
    delay = Math.min(2000, delay * 1.25);
    window.setTimeout(poll, delay);
  }
  show(status.progress);
  window.setTimeout(poll, delay);
})();
