// The project page's training section: runs with live progress, curves, calibration, and the
// start / cancel / retry / activate buttons. Everything comes from /api/v1 (session auth + CSRF).
(function () {
  "use strict";
  const section = document.getElementById("training");
  if (!section) return;
  const projectId = section.dataset.projectId;
  const csrf = section.querySelector("input[name=csrfmiddlewaretoken]").value;
  const message = document.getElementById("training-message");
  const SVG = "http://www.w3.org/2000/svg";

  async function api(method, url, body) {
    const response = await fetch("/api/v1/" + url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  const percent = (value) => (value === null || value === undefined ? "–" : (100 * value).toFixed(1) + "%");
  function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }
  function button(td, label, action) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label;
    b.addEventListener("click", async () => {
      message.textContent = "";
      try { await action(); } catch (error) { message.textContent = error.message; }
      refresh();
    });
    td.appendChild(b);
  }

  function node(svg, name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    svg.appendChild(element);
    return element;
  }

  // A line chart of [x, y] points with min/max labels; an empty chart says so.
  function lineChart(svg, points, {yMin, yMax, format = (v) => v.toFixed(3)} = {}) {
    svg.replaceChildren();
    const width = +svg.getAttribute("width"), height = +svg.getAttribute("height"), pad = 30;
    if (!points.length) { node(svg, "text", {x: pad, y: height / 2, class: "muted"}, "no data yet"); return; }
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    const y0 = yMin ?? Math.min(...ys), y1 = Math.max(yMax ?? Math.max(...ys), y0 + 1e-9);
    const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
    const sy = (y) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
    node(svg, "rect", {x: pad, y: pad, width: width - 2 * pad, height: height - 2 * pad, fill: "none", stroke: "#d9dde5"});
    node(svg, "polyline", {points: points.map((p) => sx(p[0]) + "," + sy(p[1])).join(" "), fill: "none", stroke: "#2f5bd3", "stroke-width": 2});
    for (const p of points.length < 30 ? points : []) node(svg, "circle", {cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: "#2f5bd3"});
    node(svg, "text", {x: 2, y: pad + 4, "font-size": 10}, format(y1));
    node(svg, "text", {x: 2, y: height - pad, "font-size": 10}, format(y0));
    node(svg, "text", {x: pad, y: height - 8, "font-size": 10}, String(x0));
    node(svg, "text", {x: width - pad, y: height - 8, "font-size": 10, "text-anchor": "end"}, String(x1));
  }

  // Reliability diagram: predicted P(winner) per bin against the observed share; the diagonal is perfect.
  function calibrationChart(svg, bins) {
    svg.replaceChildren();
    const size = +svg.getAttribute("width"), pad = 24, span = size - 2 * pad;
    node(svg, "rect", {x: pad, y: pad, width: span, height: span, fill: "none", stroke: "#d9dde5"});
    node(svg, "line", {x1: pad, y1: pad + span, x2: pad + span, y2: pad, stroke: "#5b6475", "stroke-dasharray": "4 3"});
    const used = (bins || []).filter((b) => b.count);
    if (!used.length) { node(svg, "text", {x: pad + 4, y: size / 2, class: "muted"}, "no data yet"); return; }
    const most = Math.max(...used.map((b) => b.count));
    for (const b of used) {
      const barWidth = span * (b.high - b.low);
      const h = span * b.observed;
      const bar = node(svg, "rect", {x: pad + span * b.low + 1, y: pad + span - h, width: barWidth - 2, height: h, fill: "#2f5bd3", opacity: 0.25 + 0.75 * (b.count / most)});
      node(bar, "title", {}, `predicted ${b.predicted.toFixed(2)}, observed ${b.observed.toFixed(2)} (${b.count} pairs)`);
      node(svg, "circle", {cx: pad + span * b.predicted, cy: pad + span * (1 - b.observed), r: 3, fill: "#b42318"});
    }
    node(svg, "text", {x: pad, y: size - 6, "font-size": 10}, "predicted →");
  }

  function renderRuns(runs) {
    const body = document.querySelector("#training-runs tbody");
    body.replaceChildren();
    for (const run of runs) {
      const row = body.insertRow();
      cell(row, "#" + run.id);
      cell(row, run.state + (run.cancel_requested && run.state === "running" ? " (stopping)" : ""));
      cell(row, run.trigger);
      const progress = cell(row, "");
      const bar = document.createElement("progress");
      bar.max = run.total_steps || 1; bar.value = run.step;
      progress.append(bar, ` ${run.step}/${run.total_steps || "?"}`);
      cell(row, percent(run.metrics && run.metrics.eval ? run.metrics.eval.pairwise_accuracy : null));
      cell(row, run.device || "");
      cell(row, run.started_at ? new Date(run.started_at).toLocaleString() : "");
      const actions = cell(row, "");
      if (run.state === "queued" || run.state === "running") button(actions, "Cancel", () => api("POST", `training-runs/${run.id}/cancel`));
      if (run.state === "failed" || run.state === "cancelled") button(actions, "Retry", () => api("POST", `training-runs/${run.id}/retry`));
      if (run.error && run.state !== "succeeded") row.title = run.error.slice(-500);
    }
  }

  function renderModels(versions) {
    const body = document.querySelector("#training-models tbody");
    body.replaceChildren();
    const active = versions.find((v) => v.is_active);
    document.getElementById("training-active").textContent = active
      ? `version ${active.version}${active.pinned ? " (pinned)" : ""}, held-out accuracy ${percent(active.metrics.pairwise_accuracy)}`
      : "none yet";
    for (const version of versions) {
      const row = body.insertRow();
      cell(row, "v" + version.version);
      cell(row, version.run ? "#" + version.run : "");
      cell(row, percent(version.metrics.pairwise_accuracy));
      cell(row, percent(version.metrics.length_baseline_accuracy));
      const m = version.metrics;
      cell(row, m.best_of_k_accuracy == null ? "–"
        : `${percent(m.best_of_k_accuracy)} (longest ${percent(m.best_of_k_longest)}, random ${percent(m.best_of_k_random)})`);
      cell(row, percent(version.metrics.length_balanced_accuracy));
      cell(row, `${percent(version.metrics.prefers_longer_share)} (${percent(version.metrics.humans_longer_wins_share)})`);
      cell(row, version.promotion.reason || "");
      cell(row, version.is_active ? (version.pinned ? "active, pinned" : "active") : "");
      const actions = cell(row, "");
      if (!version.is_active) button(actions, "Activate (pin)", () => api("POST", `models/${version.id}/activate`, {pinned: true}));
      else if (version.pinned) button(actions, "Unpin", () => api("POST", `models/${version.id}/activate`, {pinned: false}));
      else button(actions, "Pin", () => api("POST", `models/${version.id}/activate`, {pinned: true}));
    }
    const byVersion = versions.filter((v) => v.metrics.pairwise_accuracy != null).map((v) => [v.version, v.metrics.pairwise_accuracy]).reverse();
    lineChart(document.getElementById("training-accuracy"), byVersion, {yMin: 0, yMax: 1, format: percent});
    const shown = active || versions[0];
    calibrationChart(document.getElementById("training-calibration"), shown ? shown.metrics.calibration_bins : []);
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const [runs, models] = await Promise.all([api("GET", `projects/${projectId}/training-runs?limit=20`), api("GET", `projects/${projectId}/models?limit=50`)]);
      renderRuns(runs.results);
      renderModels(models.results);
      const latest = runs.results[0];
      if (latest) {
        const detail = await api("GET", `training-runs/${latest.id}`);
        lineChart(document.getElementById("training-loss"), detail.progress.filter((p) => p.loss != null).map((p) => [p.step, p.loss]));
      } else lineChart(document.getElementById("training-loss"), []);
      const busy = runs.results.some((r) => r.state === "queued" || r.state === "running");
      timer = setTimeout(refresh, busy ? 2000 : 15000);  // live while a run is under way
    } catch (error) {
      message.textContent = error.message;
      timer = setTimeout(refresh, 15000);
    }
  }

  document.getElementById("training-start").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target, config = {};
    if (form.epochs.value) config.epochs = Number(form.epochs.value);
    message.textContent = "";
    try { await api("POST", `projects/${projectId}/training-runs`, {config, model: form.model.value.trim()}); }
    catch (error) { message.textContent = error.message; }
    refresh();
  });
  refresh();
})();
