// The labeling page: one keystroke answers, the next image is already loaded behind the current
// one and is shown at once, while the answer goes to the server. No framework, no build step.
// Every piece of task data is put in the page with textContent / src, never as HTML.
(function () {
  "use strict";
  var page = document.getElementById("label-page");
  if (!page) { return; }
  var imgs = [document.getElementById("img-a"), document.getElementById("img-b")];
  var noImage = document.getElementById("no-image");
  var info = document.getElementById("task-info");
  var progress = document.getElementById("progress");
  var message = document.getElementById("message");
  var work = document.getElementById("work");
  var finished = document.getElementById("finished");
  var undoButton = document.getElementById("undo");
  var skipButton = document.getElementById("skip");
  var answerButtons = Array.prototype.slice.call(document.querySelectorAll("button.answer"));
  var imageFailed = document.getElementById("image-failed");
  var reportButton = document.getElementById("report");
  var undoFinished = document.getElementById("undo-finished");
  var instructions = document.getElementById("instructions");

  var front = 0;
  var current = null;     // the task on screen
  var ahead = null;       // the next task, its image loaded into the hidden <img>
  // answers "u" takes back, the latest last: several levels, each an answer whose task is not
  // complete yet; seeded by the server, so undo also works after "All done" and a reload
  var undoStack = (page.dataset.undoable || "").split(",").filter(Boolean).map(function (id) {
    return { id: parseInt(id, 10), task: null };
  });
  var MAX_UNDO = 20;
  var failed = {};        // task id -> true: its image did not load
  var busy = false;
  var pendingT0 = null;   // keypress time when the next task was not known yet
  var messageTimer = null;

  // read by the browser test: keypress -> next image painted, in milliseconds
  var metrics = window.labelhive = {
    swaps: [],
    idle: function () {
      if (busy) { return false; }
      if (!ahead || !ahead.image || failed[ahead.id]) { return true; }
      var back = imgs[1 - front];
      return back.dataset.taskId === String(ahead.id) && back.complete && back.naturalWidth > 0;
    },
    currentId: function () { return current ? current.id : null; },
    undoDepth: function () { return undoStack.length; }
  };

  function post(url, body) {
    return window.labelhiveUi.json(url, { method: "POST", body: JSON.stringify(body || {}) });
  }

  function say(text, kind) {
    message.textContent = text;
    message.className = "message message-" + (kind || "info");
    message.hidden = false;
    if (messageTimer) { clearTimeout(messageTimer); }
    messageTimer = setTimeout(function () { message.hidden = true; }, kind === "error" ? 10000 : 5000);
  }

  function recordSwap(task, t0, img) {
    var done = function () {
      // the frame after this callback is the first one that shows the image
      requestAnimationFrame(function () {
        setTimeout(function () { metrics.swaps.push({ task: task.id, ms: performance.now() - t0 }); }, 0);
      });
    };
    if (!task.image || (img.complete && img.naturalWidth > 0) || failed[task.id]) { done(); }
    else {
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", done, { once: true });
    }
  }

  function showInfo(task) {
    while (info.firstChild) { info.removeChild(info.firstChild); }
    Object.keys(task.info || {}).forEach(function (key) {
      var value = task.info[key];
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = key;
      dd.textContent = typeof value === "string" ? value : JSON.stringify(value);
      info.appendChild(dt);
      info.appendChild(dd);
    });
  }

  function display(task, t0) {
    var back = imgs[1 - front];
    var target = imgs[front];
    if (task.image && back.dataset.taskId === String(task.id)) {
      target = back;  // prefetched: just swap
    } else if (task.image) {
      target.dataset.taskId = String(task.id);
      target.src = task.image;
    }
    var other = target === imgs[0] ? imgs[1] : imgs[0];
    front = target === imgs[0] ? 0 : 1;
    target.alt = "Image of task " + task.id;
    target.hidden = !task.image;
    other.hidden = true;
    // an image outside the project's storage is refused: say so instead of a broken image
    noImage.textContent = task.image_problem || "This task has no image.";
    noImage.hidden = !!task.image;
    showFailed(task);
    showInfo(task);
    page.dataset.taskId = String(task.id);
    if (t0 !== null && t0 !== undefined) { recordSwap(task, t0, target); }
  }

  function prefetch(task) {
    if (!task || !task.image) { return; }
    var back = imgs[1 - front];
    if (back.dataset.taskId === String(task.id)) { return; }
    back.dataset.taskId = String(task.id);
    back.src = task.image;
    if (back.decode) { back.decode().catch(function () {}); }
  }

  // a task whose image did not load cannot be answered: say so, offer "Report a problem"
  function showFailed(task) {
    var broken = !!(task && task.image && failed[task.id]);
    imageFailed.hidden = !broken;
    answerButtons.forEach(function (button) { button.disabled = broken; });
    if (broken) {
      imgs[0].hidden = true;
      imgs[1].hidden = true;
    }
    page.dataset.imageFailed = broken ? "true" : "false";
  }

  imgs.forEach(function (img) {
    img.addEventListener("error", function () {
      var id = img.dataset.taskId;
      if (!id || !img.getAttribute("src")) { return; }
      failed[id] = true;
      if (current && String(current.id) === id) { showFailed(current); }
    });
  });

  function setUndoable() {
    undoButton.disabled = undoStack.length === 0;
    undoFinished.disabled = undoStack.length === 0;
  }

  function setFinished(isFinished) {
    work.hidden = isFinished;
    finished.hidden = !isFinished;
    page.dataset.finished = isFinished ? "true" : "false";
  }

  function apply(data) {
    if (!data || !data.tasks) { return; }
    if (data.progress) {
      progress.textContent = "You: " + window.labelhivePlural(data.progress.mine, "answer") + " · " +
        window.labelhivePlural(data.progress.total, "task") + " in the project";
    }
    var tasks = data.tasks;
    if (!current) {
      current = tasks[0] || null;
      if (!current) { setFinished(true); ahead = null; return; }
      setFinished(false);
      display(current, pendingT0);
      pendingT0 = null;
    }
    ahead = null;
    for (var i = 0; i < tasks.length; i++) {
      if (tasks[i].id !== current.id) { ahead = tasks[i]; break; }
    }
    prefetch(ahead);
  }

  function refused(result, what) {
    if (result.status === 401) { say("You were signed out: sign in again to go on.", "error"); return; }
    if (result.status === 429) { say("Too many requests in a short time: wait a minute, then go on.", "error"); return; }
    if (result.data && result.data.error) {
      say(what + result.data.error, "error");
    } else {
      say("The server did not answer; please reload the page.", "error");
    }
  }

  function advance(t0) {
    current = ahead;
    ahead = null;
    if (current) { display(current, t0); } else { pendingT0 = t0; }
  }

  function act(url, body, onOk, what) {
    busy = true;
    page.dataset.busy = "true";
    return post(url, body).then(function (result) {
      busy = false;
      page.dataset.busy = "false";
      if (result.status === 200) { onOk(result.data); } else { refused(result, what); }
      apply(result.data);
    });
  }

  function answer(value) {
    if (!current || busy || failed[current.id]) { return; }
    var t0 = performance.now();
    var task = current;
    advance(t0);
    act(page.dataset.answerUrl, { task_id: task.id, answer: value }, function (data) {
      undoStack.push({ id: data.answer_id, task: task });
      if (undoStack.length > MAX_UNDO) { undoStack.shift(); }
      setUndoable();
    }, "Your answer to the previous image was not stored: ");
  }

  function skip() {
    if (!current || busy) { return; }
    var t0 = performance.now();
    var task = current;
    advance(t0);
    act(page.dataset.skipUrl, { task_id: task.id }, function () {}, "Skip failed: ");
  }

  function report() {
    if (!current || busy) { return; }
    var t0 = performance.now();
    var task = current;
    advance(t0);
    busy = true;
    page.dataset.busy = "true";
    post(page.dataset.reportUrl, { task_id: task.id, problem: "Image failed to load" }).then(function (result) {
      if (result.status === 200) {
        say("Thank you: the project's owner sees your report. This image is skipped for you.", "info");
      } else {
        refused(result, "The report was not stored: ");
      }
      // the report's answer carries no tasks: ask for the page's state
      return post(page.dataset.stateUrl, {});
    }).then(function (result) {
      busy = false;
      page.dataset.busy = "false";
      apply(result.data);
    });
  }

  function undo() {
    if (busy) { return; }
    if (!undoStack.length) { say("Nothing to undo.", "info"); return; }
    var t0 = performance.now();
    var taken = undoStack.pop();
    setUndoable();
    act(page.dataset.undoUrl, { answer_id: taken.id, release_task_id: ahead ? ahead.id : null }, function (data) {
      ahead = current;
      current = data.task;
      setFinished(false);
      display(current, t0);
      say("Answer taken back: answer this image again.", "info");
    }, "");
  }

  // instructions: open on a first visit to the project, closed again once the annotator closed them
  function rememberInstructions() {
    if (!instructions) { return; }
    var key = "labelhive.instructions.closed." + page.dataset.project;
    try {
      if (window.localStorage.getItem(key) === "1") { instructions.open = false; }
      instructions.addEventListener("toggle", function () {
        if (instructions.open) { window.localStorage.removeItem(key); }
        else { window.localStorage.setItem(key, "1"); }
      });
    } catch (e) {
      // storage refused (private mode): the instructions simply stay open on each visit
    }
  }

  function heartbeat() {
    var ids = [current, ahead].filter(Boolean).map(function (t) { return t.id; });
    if (ids.length) { post(page.dataset.heartbeatUrl, { task_ids: ids }); }
  }

  function flash(button) {
    button.classList.add("pressed");
    setTimeout(function () { button.classList.remove("pressed"); }, 150);
  }

  window.labelhiveUi.shortcuts(function (key) {
    if (/^[1-9]$/.test(key)) {
      var button = page.querySelector('button.answer[data-key="' + key + '"]');
      if (!button || button.disabled) { return false; }
      flash(button); answer(button.dataset.answer);
    } else if (key === "s" || key === "S") {
      skip();
    } else if (key === "u" || key === "U") {
      undo();
    } else {
      return false;
    }
    return true;
  });
  answerButtons.forEach(function (button) {
    button.addEventListener("click", function () { answer(button.dataset.answer); });
  });
  skipButton.addEventListener("click", skip);
  undoButton.addEventListener("click", undo);
  undoFinished.addEventListener("click", undo);
  reportButton.addEventListener("click", report);
  rememberInstructions();
  setUndoable();

  setInterval(heartbeat, parseInt(page.dataset.heartbeatMs, 10) || 60000);
  act(page.dataset.stateUrl, {}, function () {}, "").then(function () {
    page.dataset.ready = "true";
  });
})();
