/* pybossa.js's presenter API inside the sandboxed frame, over postMessage.
 *
 * The frame has an opaque origin: it cannot call the API, so the page it is embedded in
 * fetches tasks and submits answers for it. Messages from the page carry {type: "task",
 * task} (or {type: "done"}), {type: "saved", taskId} / {type: "error", message}, and
 * {type: "hello"}, which the page sends when it starts (it may start after run()).
 */
(function () {
  "use strict";
  var onLoaded = null;
  var onPresent = null;
  var pending = {};
  var running = false;  // pybossa.run() was called

  function send(message) {
    window.parent.postMessage(message, "*");
  }

  function deferred() {
    var handlers = [];
    return {
      resolve: function () { handlers.forEach(function (fn) { fn(); }); },
      reject: function () {},
      done: function (fn) { handlers.push(fn); return this; }
    };
  }

  function present(task) {
    var loaded = deferred();
    loaded.done(function () {
      if (onPresent) { onPresent(task, deferred()); }
    });
    if (onLoaded) { onLoaded(task, loaded); } else { loaded.resolve(); }
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || typeof event.data !== "object") {
      return;
    }
    var message = event.data;
    if (message.type === "hello") {
      // the page's script may start after run(): it asks again
      if (running) { send({ type: "ready" }); }
    } else if (message.type === "task") {
      present(message.task);
    } else if (message.type === "done") {
      if (onPresent) { onPresent({}, deferred()); }
    } else if (message.type === "saved" || message.type === "error") {
      var waiting = pending[message.taskId];
      delete pending[message.taskId];
      if (waiting) { waiting(message.type === "saved", message.message); }
    }
  });

  window.pybossa = {
    taskLoaded: function (fn) { onLoaded = fn; },
    presentTask: function (fn) { onPresent = fn; },
    saveTask: function (task, answer) {
      var taskId = task && typeof task === "object" ? task.id : task;
      var settled = [];
      var failed = [];
      pending[taskId] = function (ok, message) {
        (ok ? settled : failed).forEach(function (fn) { fn(message); });
      };
      send({ type: "saveTask", taskId: taskId, answer: answer });
      var promise = {
        done: function (fn) { settled.push(fn); return promise; },
        fail: function (fn) { failed.push(fn); return promise; },
        then: function (ok, bad) {
          if (ok) { settled.push(ok); }
          if (bad) { failed.push(bad); }
          return promise;
        }
      };
      return promise;
    },
    run: function () {
      running = true;
      send({ type: "ready" });
    }
  };
})();
