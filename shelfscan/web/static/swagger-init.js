// Starts Swagger UI on /docs. A file, not an inline script, so that a Content-Security-Policy
// without 'unsafe-inline' scripts still allows the page; the server passes the settings in
// the data-config attribute of #swagger-ui.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  const config = JSON.parse(root.dataset.config);
  const options = Object.assign({}, config.parameters, {
    url: config.openapiUrl,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
  if (config.oauth2RedirectUrl) {
    options.oauth2RedirectUrl = window.location.origin + config.oauth2RedirectUrl;
  }
  window.ui = SwaggerUIBundle(options);
})();
