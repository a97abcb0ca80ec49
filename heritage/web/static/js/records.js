// Records pages: add and remove value rows, add entity and representation blocks, and
// show an entity's fields for its kind. Without JavaScript the form still works: it
// always offers one empty row per field and one empty block per section, and shows
// every entity field.
(function () {
  "use strict";

  var counter = 0;

  // Copy a template into its list, its placeholder key replaced; the copy's first
  // element, or null when the container has no such template.
  function insertCopy(container, templateSelector, listSelector, placeholder, key) {
    var template = container.querySelector(templateSelector);
    var list = container.querySelector(listSelector);
    if (!template || !list) return null;
    var copy = template.content.cloneNode(true);
    rename(copy, placeholder, key);
    copy.querySelectorAll("[data-remove-row], [data-add-row]").forEach(function (button) {
      button.hidden = false;
    });
    list.appendChild(copy);
    return list.lastElementChild;
  }

  function focusFirst(element) {
    var first = element.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  function addRow(block) {
    counter += 1;
    var row = insertCopy(
      block, "template[data-row-template]", "[data-rows]", "__N__", "new" + counter
    );
    if (row) focusFirst(row);
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

  // Replace a template's placeholder key in every attribute that names an input or
  // points at one, nested row templates included.
  var NAMING = ["id", "for", "name", "aria-describedby"];

  function rename(root, placeholder, key) {
    root.querySelectorAll("*").forEach(function (node) {
      NAMING.forEach(function (attribute) {
        var value = node.getAttribute(attribute);
        if (value && value.indexOf(placeholder) !== -1) {
          node.setAttribute(attribute, value.split(placeholder).join(key));
        }
      });
      if (node.tagName === "TEMPLATE") rename(node.content, placeholder, key);
    });
  }

  function showKinds(block) {
    var select = block.querySelector("[data-entity-type]");
    if (!select) return;
    block.querySelectorAll("[data-for-kinds]").forEach(function (part) {
      var kinds = part.getAttribute("data-for-kinds").split(" ");
      part.hidden = kinds.indexOf(select.value) === -1;
    });
  }

  function addBlock(list) {
    counter += 1;
    // unlike any key the server gave (numbers, "newN") or an earlier page had
    var key = "js" + Date.now().toString(36) + counter;
    var block = insertCopy(
      list, "template[data-block-template]", "[data-blocks]", "__E__", key
    );
    if (!block) return;
    showKinds(block);
    focusFirst(block);
  }

  function setup() {
    document.querySelectorAll("[data-add-row], [data-remove-row], [data-add-block]").forEach(
      function (button) {
        if (!button.closest("template")) button.hidden = false;
      }
    );
    document.querySelectorAll("[data-entity]").forEach(showKinds);
    document.addEventListener("change", function (event) {
      if (event.target.matches("[data-entity-type]")) {
        showKinds(event.target.closest("[data-entity]"));
      }
    });
    document.addEventListener("click", function (event) {
      var block = event.target.closest("[data-add-block]");
      if (block) {
        addBlock(block.closest("[data-block-list]"));
        return;
      }
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
