// The search page: the map of the records found (Leaflet, clustered) and the
// timeline's drag to choose a range of decades. Without JavaScript the page
// still works: facets, bars and pages are plain links.
(function () {
  "use strict";

  function initMap() {
    var element = document.getElementById("search-map");
    if (!element || typeof L === "undefined") { return; }
    fetch(element.dataset.locations, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (collection) {
        if (!collection || !collection.features.length) { element.hidden = true; return; }
        // the map knows its zoom range even without a base map (clustering needs it)
        var map = L.map(element, { scrollWheelZoom: false, minZoom: 1, maxZoom: 18 });
        if (element.dataset.tiles) {
          L.tileLayer(element.dataset.tiles, {
            maxZoom: 18, attribution: element.dataset.attribution
          }).addTo(map);
        }
        var cluster = L.markerClusterGroup ? L.markerClusterGroup() : L.featureGroup();
        var layer = L.geoJSON(collection, {
          onEachFeature: function (feature, marker) {
            var link = document.createElement("a");
            link.href = feature.properties.html;
            link.textContent = feature.properties.title || feature.properties.id;
            marker.bindPopup(link);
          }
        });
        cluster.addLayer(layer);
        map.addLayer(cluster);
        map.fitBounds(layer.getBounds(), { maxZoom: 14, padding: [20, 20] });
        var control = L.control({ position: "topright" });
        control.onAdd = function () {
          var button = L.DomUtil.create("button", "map-area-button");
          button.type = "button";
          button.textContent = element.dataset.areaLabel;
          L.DomEvent.on(button, "click", function (event) {
            L.DomEvent.stop(event);
            var bounds = map.getBounds();
            var box = [bounds.getSouth(), Math.max(-180, bounds.getWest()),
                       bounds.getNorth(), Math.min(180, bounds.getEast())]
              .map(function (number) { return number.toFixed(4); }).join(",");
            window.location.href = element.dataset.search + "bbox=" + encodeURIComponent(box);
          });
          return button;
        };
        control.addTo(map);
        element.dataset.ready = String(collection.features.length);
      });
  }

  function initTimeline() {
    var svg = document.querySelector(".timeline-bars");
    if (!svg) { return; }
    var start = null;
    function decadeOf(event) {
      var target = event.target.closest ? event.target.closest("[data-decade]") : null;
      return target ? Number(target.dataset.decade) : null;
    }
    svg.addEventListener("pointerdown", function (event) {
      start = decadeOf(event);
      if (start !== null) { event.preventDefault(); }
    });
    svg.addEventListener("pointerover", function (event) {
      if (start === null) { return; }
      var current = decadeOf(event);
      if (current === null) { return; }
      var low = Math.min(start, current), high = Math.max(start, current);
      svg.querySelectorAll("[data-decade]").forEach(function (bar) {
        var decade = Number(bar.dataset.decade);
        bar.classList.toggle("chosen", decade >= low && decade <= high);
      });
    });
    svg.addEventListener("pointerup", function (event) {
      var end = decadeOf(event);
      if (start === null || end === null) { start = null; return; }
      event.preventDefault();
      var bars = svg.querySelectorAll("[data-decade]");
      var step = bars.length > 1 ? Number(bars[1].dataset.decade) - Number(bars[0].dataset.decade) : 10;
      var low = Math.min(start, end), high = Math.max(start, end) + step - 1;
      start = null;
      window.location.href = svg.dataset.search + "year_from=" + low + "&year_to=" + high;
    });
    // a click on a single bar follows its link; the drag above handles ranges
    svg.addEventListener("click", function (event) { if (start !== null) { event.preventDefault(); } });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initMap();
    initTimeline();
  });
})();
