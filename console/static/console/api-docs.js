// Settings → API: Swagger UI over /console/v1/openapi.json (no inline script: the CSP
// allows only our own files). "Try it out" sends the key given under Authorize in the
// STATSIG-API-KEY header; without one, the signed-in session calls the page's project.
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") return;
    var project = root.dataset.project;
    var csrf = root.dataset.csrf;
    window.SwaggerUIBundle({
      url: root.dataset.url,
      domNode: root,
      deepLinking: true,
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      displayOperationId: true,
      filter: true,
      persistAuthorization: false,
      tryItOutEnabled: false,
      requestInterceptor: function (request) {
        var url = new URL(request.url, window.location.origin);
        var keyed = Object.keys(request.headers || {}).some(function (name) {
          return name.toLowerCase() === "statsig-api-key";
        });
        if (!keyed && url.pathname.indexOf("/console/v1/") === 0) {
          // A session names its project; writes carry the CSRF token as the console's do.
          if (!url.searchParams.has("project")) url.searchParams.set("project", project);
          request.url = url.toString();
          request.headers["X-CSRFToken"] = csrf;
        }
        return request;
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
