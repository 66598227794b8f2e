// Sortable tables: a click (or Enter) on a header of table.sortable sorts its rows by that column;
// a second click reverses. Cells sort by their data-value when they have one (numbers, dates),
// else by their text. Empty values go last either way. No HTML is built from cell contents.
(function () {
  "use strict";
  function value(cell, kind) {
    const raw = cell ? (cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim()) : "";
    if (raw === "" || raw === "–") return null;
    if (kind === "number") { const number = Number(raw); return Number.isNaN(number) ? null : number; }
    return raw.toLocaleLowerCase();
  }
  function sort(table, header, index) {
    const kind = header.dataset.sort;
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).filter((row) => row.cells.length > 1);
    rows.sort((a, b) => {
      const x = value(a.cells[index], kind), y = value(b.cells[index], kind);
      if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
      const order = kind === "number" ? x - y : x.localeCompare(y);
      return ascending ? order : -order;
    });
    for (const row of rows) body.appendChild(row);
  }
  for (const table of document.querySelectorAll("table.sortable")) {
    Array.from(table.tHead.rows[0].cells).forEach((header, index) => {
      if (!header.dataset.sort) return;
      header.tabIndex = 0;
      header.classList.add("sort-header");
      header.addEventListener("click", () => sort(table, header, index));
      header.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(table, header, index); }
      });
    });
  }
})();
