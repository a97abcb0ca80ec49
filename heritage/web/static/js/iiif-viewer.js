// The record page's deep-zoom viewer: OpenSeadragon over the record's IIIF images,
// with rotation, full screen and brightness / contrast / gamma for conservators.
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
    var tools = element.parentElement;
    var gamma = document.querySelectorAll("#iiif-gamma feFuncR, #iiif-gamma feFuncG, #iiif-gamma feFuncB");
    var values = { brightness: 100, contrast: 100, gamma: 100 };

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
