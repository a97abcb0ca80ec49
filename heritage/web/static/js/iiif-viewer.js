// The record page's deep-zoom viewer: OpenSeadragon over the record's IIIF images,
// with rotation, full screen, two images side by side zoomed together, and brightness /
// contrast / gamma for conservators.
// Adjustments are CSS filters on the drawn canvas: the tiles themselves stay as served.
(function () {
  "use strict";

  function start() {
    var element = document.getElementById("iiif-viewer");
    if (!element || typeof OpenSeadragon === "undefined") {
      return;
    }
    var images = JSON.parse(element.dataset.images || "[]");
    var viewer = OpenSeadragon({
      element: element,
      prefixUrl: element.dataset.prefix,
      tileSources: images,
      sequenceMode: images.length > 1,
      showReferenceStrip: images.length > 1,
      showRotationControl: true,
      crossOriginPolicy: false,
      gestureSettingsTouch: { pinchRotate: true },
    });
    window.heritageViewer = viewer;
    var tools = element.closest("section");
    var gamma = document.querySelectorAll("#iiif-gamma feFuncR, #iiif-gamma feFuncG, #iiif-gamma feFuncB");
    var values = { brightness: 100, contrast: 100, gamma: 100 };

    var compare = document.getElementById("iiif-viewer-compare");
    var second = null;
    var following = false;

    // Zoom and pan of one viewer are copied to the other (viewport coordinates: each
    // image is 1 wide, so both show the same part of their picture).
    function follow(from, to) {
      from.addHandler("viewport-change", function () {
        if (following || !to || compare.hidden) {
          return;
        }
        following = true;
        to.viewport.zoomTo(from.viewport.getZoom(), null, true);
        to.viewport.panTo(from.viewport.getCenter(), true);
        following = false;
      });
    }

    function showCompare(on) {
      compare.hidden = !on;
      element.parentElement.classList.toggle("comparing", on);
      if (on && !second) {
        var next = (viewer.currentPage() + 1) % images.length;
        second = OpenSeadragon({
          element: compare,
          prefixUrl: element.dataset.prefix,
          tileSources: [images[next]],
          showRotationControl: true,
          crossOriginPolicy: false,
        });
        window.heritageCompare = second;
        follow(viewer, second);
        follow(second, viewer);
        second.addHandler("open", function () {
          second.viewport.zoomTo(viewer.viewport.getZoom(), null, true);
          second.viewport.panTo(viewer.viewport.getCenter(), true);
          apply();
        });
      }
    }

    tools.querySelectorAll("[data-compare]").forEach(function (button) {
      button.addEventListener("click", function () {
        var on = button.getAttribute("aria-pressed") !== "true";
        button.setAttribute("aria-pressed", String(on));
        showCompare(on);
      });
    });

    function apply() {
      gamma.forEach(function (node) {
        // the slider shows gamma; the transfer function raises to its inverse
        node.setAttribute("exponent", String(100 / values.gamma));
      });
      var filter = "brightness(" + values.brightness / 100 + ") contrast(" + values.contrast / 100 + ")";
      if (values.gamma !== 100) {
        filter += " url(#iiif-gamma)";
      }
      viewer.canvas.style.filter = filter;
      if (second) {
        second.canvas.style.filter = filter;
      }
    }

    tools.querySelectorAll("[data-rotate]").forEach(function (button) {
      button.addEventListener("click", function () {
        var turn = Number(button.dataset.rotate);
        viewer.viewport.setRotation((viewer.viewport.getRotation() + turn + 360) % 360);
      });
    });
    tools.querySelectorAll("[data-fullscreen]").forEach(function (button) {
      button.addEventListener("click", function () {
        viewer.setFullScreen(true);
      });
    });
    tools.querySelectorAll("[data-adjust]").forEach(function (input) {
      input.addEventListener("input", function () {
        values[input.dataset.adjust] = Number(input.value);
        apply();
      });
    });
    tools.querySelectorAll("[data-reset]").forEach(function (button) {
      button.addEventListener("click", function () {
        tools.querySelectorAll("[data-adjust]").forEach(function (input) {
          input.value = "100";
          values[input.dataset.adjust] = 100;
        });
        viewer.viewport.setRotation(0);
        viewer.viewport.goHome();
        apply();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
