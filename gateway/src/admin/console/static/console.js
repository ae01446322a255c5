// scimgate console: the only script (the Content-Security-Policy allows no
// inline script). Three small behaviours, each keyed off a data attribute.
"use strict";

// Copy the token shown once to the clipboard.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(function () { button.textContent = "Copied"; });
    }
  });
});

// A select that reloads its form when changed (the playground's fixtures).
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});

// The log explorer's live tail: new records, filtered as the page is, are
// prepended. Cells are filled with textContent, never parsed as HTML.
var log = document.querySelector("table[data-stream]");
if (log && window.EventSource) {
  var filters = JSON.parse(log.getAttribute("data-filters") || "{}");
  var base = log.getAttribute("data-record-base");
  var body = log.querySelector("tbody");
  var source = new EventSource(log.getAttribute("data-stream"));
  source.onmessage = function (event) {
    var r = JSON.parse(event.data);
    for (var key in filters) {
      if (filters[key] && String(r[key]) !== filters[key]) { return; }
    }
    var row = document.createElement("tr");
    row.className = "new";
    var seq = document.createElement("a");
    seq.href = base + r.seq;
    seq.textContent = r.seq;
    var cells = [seq, r.time, r.operation, r.resource_type || "", r.resource_id || "", r.outcome, r.status,
      (r.duration_ms || 0).toFixed(1), r.error || r.detail || ""];
    cells.forEach(function (value, i) {
      var cell = document.createElement("td");
      if (i === 0) { cell.appendChild(value); } else { cell.textContent = String(value); }
      if (i === 5) { cell.className = "outcome-" + (r.outcome === "error" ? "error" : "ok"); }
      row.appendChild(cell);
    });
    body.insertBefore(row, body.firstChild);
    var empty = document.getElementById("log-empty");
    if (empty) { empty.remove(); }
  };
}
