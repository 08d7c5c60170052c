// The results browser: j/k (or the arrow keys) move between items, Enter shows who answered
// what (from the provenance API), "]" opens the next page. Data goes in with textContent.
(function () {
  "use strict";
  var table = document.getElementById("items");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.querySelectorAll("tr.item-row"));
  var current = 0;

  function select(i) {
    if (!rows.length) { return; }
    rows[current].classList.remove("current");
    current = Math.max(0, Math.min(i, rows.length - 1));
    rows[current].classList.add("current");
    rows[current].focus({ preventScroll: true });
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function details() {
    var id = rows[current].dataset.item;
    var detail = table.querySelector('tr[data-detail="' + id + '"]');
    if (!detail.hidden) { detail.hidden = true; return; }
    var url = table.dataset.itemUrl.replace(/\/0$/, "/" + id);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (item) {
        var cell = detail.firstElementChild;
        cell.textContent = item.answers.length
          ? item.answers.map(function (a) { return (a.user_name || "user " + a.user_id) + ": " + a.label; }).join(" · ")
          : "No answers yet.";
        if (item.review.reviewer_name) {
          cell.textContent += " — reviewed by " + item.review.reviewer_name + " at " + item.review.reviewed_at;
        }
        detail.hidden = false;
      });
  }

  rows.forEach(function (row, i) { row.addEventListener("click", function () { select(i); }); });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { return; }
    if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); select(current + 1); }
    else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); select(current - 1); }
    else if (event.key === "Enter") { event.preventDefault(); details(); }
    else if (event.key === "]") {
      var next = document.getElementById("next-page");
      if (next) { window.location.href = next.href; }
    }
  });
  select(0);
})();
