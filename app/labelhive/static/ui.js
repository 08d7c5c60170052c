// Small helpers of every page (no inline scripts: the CSP allows scripts from files only).
// - form[data-confirm]: asks before submitting (archiving, deleting a task);
// - button[data-copy]: copies the text of the element whose id it names (the API key);
// - labelhivePlural(n, word): counts in the page scripts' words;
// - labelhiveUi.json / labelhiveUi.shortcuts: the JSON calls and the keyboard shortcuts that the
//   keyboard-first pages (labeling, review) share, so their rules cannot drift apart.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');

  window.labelhiveUi = {
    // A same-origin JSON call with the page's CSRF token; resolves to {status, data}: status 0
    // when the network failed, data null when the reply was not JSON. Never rejects.
    json: function (url, options) {
      options = options || {};
      options.credentials = "same-origin";
      options.headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfMeta ? csrfMeta.getAttribute("content") : ""
      };
      return fetch(url, options).then(function (response) {
        return response.json().then(
          function (data) { return { status: response.status, data: data }; },
          function () { return { status: response.status, data: null }; });
      }, function () { return { status: 0, data: null }; });
    },
    // Calls handle(key, event) for a plain key press; a true return takes the key from the
    // browser. Not with a modifier (the browser's own shortcuts), not on auto-repeat (a held
    // key would answer many images), not while typing in a field.
    shortcuts: function (handle) {
      document.addEventListener("keydown", function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
        var target = event.target;
        var tag = target && target.tagName;
        if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) { return; }
        if (handle(event.key, event)) { event.preventDefault(); }
      });
    }
  };
  // The page scripts' counterpart of labelhive.plural: "1 answer", "2 answers".
  window.labelhivePlural = function (count, singular, pluralWord) {
    return count + " " + (count === 1 ? singular : (pluralWord || singular + "s"));
  };
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function copied(button, text) {
    var status = document.getElementById(button.getAttribute("data-copy-status") || "");
    if (status) status.textContent = text;
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      var value = source.value !== undefined ? source.value : source.textContent;
      var done = function () { copied(button, "Copied to the clipboard."); };
      var fallback = function () {
        // without the Clipboard API (plain HTTP): select the text so Ctrl+C copies it
        if (source.select) source.select();
        copied(button, document.execCommand && document.execCommand("copy")
          ? "Copied to the clipboard." : "Selected: press Ctrl+C to copy.");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
})();
