// The project page's agreement plots, drawn as SVG from the data the server put in #agreement-plots.
// No libraries: bars, an axis line, labels. Text goes in with textContent, never as HTML.
(function () {
  "use strict";
  const source = document.getElementById("agreement-plots");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const SVG = "http://www.w3.org/2000/svg";

  function el(svg, name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  }

  // bars: [{label, value, ghost?}], values in [0, max]; reference: a dashed horizontal line.
  function barChart(svg, bars, { max = 1, percent = true, reference = null } = {}) {
    if (!svg) return;
    const width = Number(svg.getAttribute("width")), height = Number(svg.getAttribute("height"));
    const left = 36, bottom = 34, top = 10, plotHeight = height - bottom - top;
    const y = (value) => top + plotHeight * (1 - Math.min(value, max) / max);
    el(svg, "line", { x1: left, y1: y(0), x2: width, y2: y(0), stroke: "#5b6475" });
    el(svg, "text", { x: left - 4, y: y(max) + 4, "text-anchor": "end", "font-size": 10 }, percent ? "100%" : String(max));
    el(svg, "text", { x: left - 4, y: y(0), "text-anchor": "end", "font-size": 10 }, "0");
    if (!bars.length) {
      el(svg, "text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#5b6475" }, "no data yet");
      return;
    }
    const slot = (width - left) / bars.length, barWidth = Math.max(2, slot * 0.7);
    bars.forEach((bar, index) => {
      const x = left + index * slot + (slot - barWidth) / 2;
      if (bar.ghost !== null && bar.ghost !== undefined) {
        el(svg, "rect", { x: x - 2, y: y(bar.ghost), width: barWidth + 4, height: y(0) - y(bar.ghost), fill: "#d9dde5" });
      }
      if (bar.value !== null && bar.value !== undefined) {
        const rect = el(svg, "rect", { x, y: y(bar.value), width: barWidth, height: y(0) - y(bar.value), fill: "#2f5bd3" });
        el(rect, "title", {}, `${bar.label}: ${percent ? (100 * bar.value).toFixed(1) + "%" : bar.value}`);
      }
      if (bars.length <= 16) {
        el(svg, "text", { x: x + barWidth / 2, y: height - bottom + 14, "text-anchor": "middle", "font-size": 10 },
          bar.label.length > 10 ? bar.label.slice(0, 9) + "…" : bar.label);
      }
    });
    if (reference !== null) {
      el(svg, "line", { x1: left, y1: y(reference), x2: width, y2: y(reference), stroke: "#b42318", "stroke-dasharray": "4 3" });
    }
  }

  barChart(document.getElementById("plot-agreement"),
    data.annotators.map((a) => ({ label: a.username, value: a.agreement })), { reference: 0.726 });
  barChart(document.getElementById("plot-position"),
    data.annotators.map((a) => ({ label: a.username, value: a.shown_first_ranked_first, ghost: a.chance })));
  const counts = data.seconds.map((bin) => bin.count);
  const most = Math.max(1, ...counts);
  barChart(document.getElementById("plot-seconds"),
    data.seconds.map((bin) => ({ label: bin.to === null ? `${bin.from}+` : `${bin.from}`, value: bin.count })),
    { max: most, percent: false });
})();
