// The review page: the items consensus is unsure of, one at a time, with their votes and who
// answered what. A number key sets the final label, "b" sends the item back for more answers,
// "n"/"p" move through the queue. Every piece of item data goes in with textContent / src.
(function () {
  "use strict";
  var page = document.getElementById("review-page");
  if (!page) { return; }
  var work = document.getElementById("work");
  var finished = document.getElementById("finished");
  var progress = document.getElementById("progress");
  var message = document.getElementById("message");
  var image = document.getElementById("review-image");
  var noImage = document.getElementById("no-image");
  var title = document.getElementById("item-title");
  var reasons = document.getElementById("reasons");
  var votesBody = document.querySelector("#votes tbody");
  var consensusLine = document.getElementById("consensus");
  var answerButtons = Array.prototype.slice.call(document.querySelectorAll("button.answer"));
  var options = answerButtons.map(function (b) { return b.dataset.answer; });
  var REASONS = { tie: "tie", low_confidence: "low confidence", gold_missed: "gold item answered wrongly by most" };

  var queue = [];      // item ids waiting for review
  var index = 0;       // the one on screen
  var item = null;     // its provenance (GET /api/project/<id>/item/<task_id>)
  var busy = true;

  // read by the browser test
  window.review = {
    decisions: [],
    idle: function () { return !busy; },
    currentId: function () { return item ? item.item_id : null; }
  };

  function urlFor(template, id) { return template.replace(/\/0$/, "/" + id); }

  var request = window.labelhiveUi.json;

  function say(text, kind) {
    message.textContent = text;
    message.className = "message message-" + (kind || "info");
    message.hidden = !text;
  }

  function showProgress() {
    progress.textContent = queue.length ? "Item " + (index + 1) + " of " + queue.length + " waiting for review" : "Nothing waiting for review";
  }

  function cell(row, text) {
    var td = document.createElement("td");
    if (text !== undefined) { td.textContent = text; }
    row.appendChild(td);
    return td;
  }

  function render() {
    var votes = (item.consensus && item.consensus.votes) || {};
    var who = {};
    item.answers.forEach(function (answer) {
      var key = answer.label === null ? "(not a label)" : answer.label;
      (who[key] = who[key] || []).push(answer.user_name || ("user " + answer.user_id));
    });
    var labels = options.slice();
    Object.keys(votes).concat(Object.keys(who)).forEach(function (label) {
      if (labels.indexOf(label) < 0) { labels.push(label); }
    });
    var most = Math.max.apply(null, [1].concat(labels.map(function (l) { return votes[l] || 0; })));
    votesBody.textContent = "";
    labels.forEach(function (label) {
      var row = document.createElement("tr");
      row.dataset.label = label;
      cell(row, label);
      var count = cell(row);
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.round(120 * (votes[label] || 0) / most) + "px";
      count.appendChild(bar);
      count.appendChild(document.createTextNode(String(votes[label] || 0)));
      cell(row, (who[label] || []).join(", "));
      votesBody.appendChild(row);
    });
    title.textContent = "Item " + item.item_id + (item.gold ? " (gold: " + item.gold_answer + ")" : "");
    reasons.textContent = item.review.reasons.length
      ? "Needs review: " + item.review.reasons.map(function (r) { return REASONS[r] || r; }).join(", ")
      : "State: " + item.review.state.replace("_", " ");
    var c = item.consensus;
    consensusLine.textContent = c
      ? "Consensus: " + (c.label === null ? "none" : c.label) + " (" + c.method.replace("_", " ") +
        ", confidence " + c.confidence.toFixed(2) + (c.tie ? ", tie" : "") + ")"
      : "Consensus not computed yet.";
    if (item.image) {
      image.hidden = false;
      noImage.hidden = true;
      image.src = item.image;
    } else {
      image.hidden = true;
      image.removeAttribute("src");
      noImage.hidden = false;
    }
    showProgress();
  }

  function show() {
    if (!queue.length) {
      item = null;
      work.hidden = true;
      finished.hidden = false;
      showProgress();
      busy = false;
      return;
    }
    index = Math.max(0, Math.min(index, queue.length - 1));
    busy = true;
    request(urlFor(page.dataset.itemUrl, queue[index])).then(function (reply) {
      if (reply.status !== 200) {
        say((reply.data && reply.data.exception_msg) || "Could not load the item.", "error");
        busy = false;
        return;
      }
      item = reply.data;
      work.hidden = false;
      finished.hidden = true;
      render();
      busy = false;
    });
  }

  function load() {
    busy = true;
    request(page.dataset.queueUrl + "?limit=100").then(function (reply) {
      if (reply.status !== 200) {
        say((reply.data && reply.data.exception_msg) || "Could not load the review queue.", "error");
        busy = false;
        return;
      }
      queue = reply.data.map(function (row) { return row.item_id; });
      index = 0;
      page.dataset.ready = "true";
      show();
    });
  }

  function decide(body, done) {
    if (busy || !item) { return; }
    busy = true;
    var id = item.item_id;
    request(urlFor(page.dataset.decideUrl, id), { method: "POST", body: JSON.stringify(body) })
      .then(function (reply) {
        if (reply.status !== 200) {
          say((reply.data && reply.data.exception_msg) || "The decision was not saved.", "error");
          busy = false;
          return;
        }
        window.review.decisions.push({ id: id, body: body });
        say(done, "success");
        queue.splice(index, 1);
        if (!queue.length) { load(); } else { show(); }
      });
  }

  function setLabel(label) { decide({ label: label }, "Item " + item.item_id + " labelled " + label + "."); }
  function sendBack() { decide({ send_back: true }, "Item " + item.item_id + " sent back for one more answer."); }
  function move(step) {
    if (busy || queue.length < 2) { return; }
    index = (index + step + queue.length) % queue.length;
    show();
  }

  answerButtons.forEach(function (button) {
    button.addEventListener("click", function () { setLabel(button.dataset.answer); });
  });
  document.getElementById("send-back").addEventListener("click", sendBack);
  document.getElementById("next").addEventListener("click", function () { move(1); });
  document.getElementById("previous").addEventListener("click", function () { move(-1); });

  window.labelhiveUi.shortcuts(function (key) {
    var button = answerButtons.filter(function (b) { return b.dataset.key === key; })[0];
    if (button) { setLabel(button.dataset.answer); }
    else if (key === "b") { sendBack(); }
    else if (key === "n" || key === "ArrowRight") { move(1); }
    else if (key === "p" || key === "ArrowLeft") { move(-1); }
    else { return false; }
    return true;
  });

  load();
})();
