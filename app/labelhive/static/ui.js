// Small helpers of every page (no inline scripts: the CSP allows scripts from files only).
// - form[data-confirm]: asks before submitting (archiving, deleting a task);
// - button[data-copy]: copies the text of the element whose id it names (the API key);
// - labelhivePlural(n, word): counts in the page scripts' words.
(function () {
  "use strict";
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
