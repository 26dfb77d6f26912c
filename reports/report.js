// Filter and sort the findings table. Allowed by the page's CSP through its sha256 hash
// (audit/report.py computes it from this file); no other script can run.
(function () {
  "use strict";
  var table = document.getElementById("findings-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var query = document.getElementById("f-query");
  var status = document.getElementById("f-status");
  var severity = document.getElementById("f-severity");
  var source = document.getElementById("f-source");
  var count = document.getElementById("f-count");
  var controls = document.getElementById("f-controls");
  if (controls) { controls.hidden = false; }
  function apply() {
    var text = query.value.toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!status.value || row.dataset.status === status.value) &&
        (!severity.value || row.dataset.severity === severity.value) &&
        (!source.value || row.dataset.source === source.value) &&
        (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = String(shown);
  }
  [query, status, severity, source].forEach(function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  table.tHead.addEventListener("click", function (event) {
    var th = event.target.closest("th");
    if (!th || !th.dataset.key) { return; }
    var key = th.dataset.key;
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    rows.sort(function (a, b) {
      var x = a.dataset[key] || "", y = b.dataset[key] || "";
      var nx = parseFloat(x), ny = parseFloat(y);
      if (!isNaN(nx) && !isNaN(ny)) { return (nx - ny) * dir; }
      return x.localeCompare(y) * dir;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
  });
})();
