// The job page: poll the job's status until it ends, then reload to show its links.
// A static file (no inline script), so the site's Content-Security-Policy can stay strict.
(function () {
  "use strict";
  var box = document.getElementById("job");
  var url = box && box.getAttribute("data-status-url");
  if (!url) return;
  var status = document.getElementById("job-status");
  var bar = document.getElementById("job-progress");
  var count = document.getElementById("job-count");
  var delay = 1000;

  function show(job) {
    status.textContent = job.status;
    if (job.total !== null && job.total !== undefined) {
      bar.max = Math.max(job.total, 1);
      bar.value = job.done;
    }
    count.textContent = job.done + " of " +
      (job.total === null ? "? rows" : window.labelhivePlural(job.total, "row")) + " done";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (job.ended) {
          window.location.reload();
          return;
        }
        delay = Math.min(delay * 1.2, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // the server restarting or a network blip: keep trying, more slowly
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
