// The new-project form: the short name follows the name as it is typed (the same slug the
// server derives when the field is left empty, labelhive.projects.shortname), until the owner
// edits the short name themselves.
(function () {
  "use strict";
  var form = document.querySelector("form[data-derive-short-name]");
  if (!form) return;
  var name = form.querySelector("#name");
  var shortName = form.querySelector("#short_name");
  if (!name || !shortName) return;

  function slugify(text) {
    return text
      .normalize("NFKD")
      .replace(/[^\x00-\x7f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 63)
      .replace(/-+$/, "");
  }

  // follow the name only while the short name is empty or still the derived one
  var derived = shortName.value === "" || shortName.value === slugify(name.value);
  name.addEventListener("input", function () {
    if (derived) shortName.value = slugify(name.value);
  });
  shortName.addEventListener("input", function () {
    derived = shortName.value === "";
  });
})();
