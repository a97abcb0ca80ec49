// Starts Swagger UI on the API description; kept out of the page so the CSP needs no inline script.
(function () {
  var node = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: node.dataset.openapiUrl, domNode: node, deepLinking: false });
})();
