// The results page: while a consensus recomputation runs, poll its job's status and show the
// new results when it ends (no manual reload). A static file, so the CSP can stay strict.
(function () {
  "use strict";
  var form = document.getElementById("recompute");
  var url = form && form.getAttribute("data-status-url");
  if (!url) return;
  var status = document.getElementById("recompute-status");
  var delay = 500;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (job) {
        if (job.ended) {
          // the page is rendered from the stored consensus: load it again
          window.location.reload();
          return;
        }
        if (status) status.textContent = "Recomputing (" + job.status + ")… this page shows the new results when it is done.";
        delay = Math.min(delay * 1.5, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
