(function () {
  "use strict";
  function sortKey(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var key = cell.getAttribute("data-sort");
    return key !== null ? key : cell.textContent.trim().toLowerCase();
  }
  function isNumber(value) { return value !== "" && !isNaN(Number(value)); }
  function sortBy(table, header) {
    var index = header.cellIndex;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var direction = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    rows.sort(function (a, b) {
      var x = sortKey(a, index), y = sortKey(b, index);
      var order = isNumber(x) && isNumber(y) ? Number(x) - Number(y) : (x < y ? -1 : (x > y ? 1 : 0));
      return order * direction;
    });
    Array.prototype.forEach.call(header.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }
  var globalSearch = document.getElementById("global-search");
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.filterable"));
  function applyFilters() {
    var everywhere = globalSearch ? globalSearch.value.trim().toLowerCase() : "";
    tables.forEach(function (table) {
      var own = document.querySelector('input.table-filter[data-table="' + table.id + '"]');
      var here = own ? own.value.trim().toLowerCase() : "";
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        var visible = text.indexOf(here) !== -1 && text.indexOf(everywhere) !== -1;
        row.hidden = !visible;
        if (visible) { shown += 1; }
      });
      var counter = document.querySelector('.count[data-table="' + table.id + '"]');
      if (counter) { counter.textContent = shown + " shown"; }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
      header.addEventListener("click", function () { sortBy(table, header); });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("input.table-filter"), function (input) {
    input.addEventListener("input", applyFilters);
  });
  if (globalSearch) { globalSearch.addEventListener("input", applyFilters); }
  applyFilters();
}());
