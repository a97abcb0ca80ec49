// Records pages: add and remove value rows on the record form. Without JavaScript the
// form still works: it always offers one empty row per field, so a save adds one value.
(function () {
  "use strict";

  var counter = 0;

  function addRow(block) {
    var template = block.querySelector("template[data-row-template]");
    var rows = block.querySelector("[data-rows]");
    if (!template || !rows) return;
    var copy = template.content.cloneNode(true);
    counter += 1;
    var suffix = "new" + counter;
    copy.querySelectorAll("[id], label[for]").forEach(function (node) {
      if (node.id) node.id = node.id.replace("__N__", suffix);
      var target = node.getAttribute("for");
      if (target) node.setAttribute("for", target.replace("__N__", suffix));
    });
    copy.querySelectorAll("[data-remove-row]").forEach(function (button) {
      button.hidden = false;
    });
    rows.appendChild(copy);
    var first = rows.lastElementChild.querySelector("input, textarea");
    if (first) first.focus();
  }

  function removeRow(button) {
    var row = button.closest("[data-row]");
    var block = button.closest("[data-field]");
    if (!row) return;
    row.remove();
    if (block) {
      var next = block.querySelector("[data-rows] input, [data-rows] textarea, [data-add-row]");
      if (next) next.focus();
    }
  }

  function setup() {
    document.querySelectorAll("[data-add-row], [data-remove-row]").forEach(function (button) {
      if (!button.closest("template")) button.hidden = false;
    });
    document.addEventListener("click", function (event) {
      var add = event.target.closest("[data-add-row]");
      if (add) {
        addRow(add.closest("[data-field]"));
        return;
      }
      var remove = event.target.closest("[data-remove-row]");
      if (remove) removeRow(remove);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
