/* The labeling page's side of a custom task presenter.
 *
 * The presenter runs in a sandboxed frame with an opaque origin; this script is the only
 * thing that talks to LabelHive. It listens to messages from that frame alone, hands it one
 * task at a time and submits its answers through the labeling endpoints with the page's
 * CSRF token, which the frame never sees.
 */
(function () {
  "use strict";
  var page = document.getElementById("presenter-page");
  var frame = document.getElementById("presenter");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var tasks = [];
  var ready = false;  // the frame called pybossa.run()
  var loaded = false;  // the first state arrived
  var saving = false;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }

  function toFrame(message) {
    // the frame's origin is opaque ("null"): "*" is the only target that reaches it
    frame.contentWindow.postMessage(message, "*");
  }

  function forPresenter(task) {
    var info = Object.assign({}, task.info);
    if (task.image && task.image_key) { info[task.image_key] = task.image; }
    return { id: task.id, project_id: Number(page.dataset.projectId) || null, info: info };
  }

  function showMessage(text) {
    var box = document.getElementById("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function apply(state) {
    tasks = state.tasks || [];
    if (state.progress) {
      document.getElementById("progress").textContent =
        state.progress.mine + " answered by you · " +
        window.labelhivePlural(state.progress.total, "task") + " in the project";
    }
  }

  function presentNext() {
    if (!ready || !loaded) { return; }
    if (tasks.length) {
      toFrame({ type: "task", task: forPresenter(tasks[0]) });
    } else {
      toFrame({ type: "done" });
      document.getElementById("finished").hidden = false;
    }
    page.dataset.ready = "true";
  }

  function save(taskId, answer) {
    if (saving || !tasks.length || tasks[0].id !== taskId) {
      toFrame({ type: "error", taskId: taskId, message: "That task is not the one on screen." });
      return;
    }
    saving = true;
    post(page.dataset.answerUrl, { task_id: taskId, answer: answer }).then(function (result) {
      saving = false;
      apply(result.data);
      if (result.ok) {
        showMessage("");
        toFrame({ type: "saved", taskId: taskId });
      } else {
        showMessage(result.data.error);
        toFrame({ type: "error", taskId: taskId, message: result.data.error });
      }
      presentNext();
    }, function () {
      saving = false;
      showMessage("The answer could not be sent; check your connection.");
      toFrame({ type: "error", taskId: taskId, message: "network error" });
    });
  }

  window.addEventListener("message", function (event) {
    // only our frame may talk to this page, and only in these two words
    if (event.source !== frame.contentWindow || !event.data || typeof event.data !== "object") {
      return;
    }
    if (event.data.type === "ready") {
      if (ready) { return; }  // a second "ready" answers our "hello"
      ready = true;
      presentNext();
    } else if (event.data.type === "saveTask") {
      save(event.data.taskId, event.data.answer);
    }
  });

  // the frame may have called run() before this script ran: ask it again
  frame.addEventListener("load", function () { toFrame({ type: "hello" }); });
  toFrame({ type: "hello" });

  post(page.dataset.stateUrl).then(function (result) {
    apply(result.data);
    loaded = true;
    presentNext();
  });
})();
