/*
 * The provider link form shows the settings block of the chosen provider only: a Sinch link's page
 * showed the Plivo block too, and a new link's page both. Choosing another provider (a switch)
 * shows that provider's block; with none chosen yet, no block. A static file because the
 * Content-Security-Policy allows no inline script. Without it every block shows, as before; the
 * form keeps only the chosen provider's settings either way (ProviderLinkForm.clean).
 */
(function () {
  "use strict";

  var PREFIX = "provider-settings-";

  function show(select) {
    var chosen = select.value;
    document.querySelectorAll("fieldset.provider-settings").forEach(function (block) {
      block.hidden = !block.classList.contains(PREFIX + chosen);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_provider");
    if (!select) {
      return; // a read-only page: one block, the stored settings
    }
    select.addEventListener("change", function () {
      show(select);
    });
    show(select);
  });
})();
