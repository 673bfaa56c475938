/*
 * The phone form's live E.164 preview and plausibility hint, next to the number field.
 *
 * libphonenumber runs on the server (PhoneAdmin.number_preview_view, the URL in the number
 * input's data-preview-url): one source of truth for the E.164 form, no copy of its metadata in
 * the browser, no build step. A static file because the Content-Security-Policy allows no inline
 * script. Without it the form works the same; the server's checks decide what may be saved.
 */
(function () {
  "use strict";

  var FIELDS = ["number", "area_code", "country_code", "type"];
  var LEVEL_CLASSES = {
    ok: "text-green-700 dark:text-green-400",
    warning: "text-orange-700 dark:text-orange-400",
    error: "text-red-700 dark:text-red-400",
    empty: "text-font-subtle-light dark:text-font-subtle-dark",
  };
  var DELAY_MS = 250;

  function start() {
    var input = document.getElementById("id_number");
    if (!input || !input.dataset.previewUrl || !input.form) {
      return;
    }
    var form = input.form;
    // The field's autofocus attribute is not always honoured (Chromium skips it on a page reached
    // by a form's redirect): focus it here unless the operator is already somewhere else.
    if (input.hasAttribute("autofocus") && (!document.activeElement || document.activeElement === document.body)) {
      input.focus();
    }
    var output = document.createElement("div");
    output.id = "number-preview";
    output.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", output);

    var timer = null;
    var asked = 0; // only the latest question's answer is shown

    function value(name) {
      var element = form.elements.namedItem(name);
      return element && "value" in element ? element.value : "";
    }

    function show(answer) {
      output.className = "mt-2 text-xs " + (LEVEL_CLASSES[answer.level] || "");
      output.dataset.level = answer.level;
      output.textContent = "";
      if (answer.e164) {
        var e164 = document.createElement("strong");
        e164.textContent = answer.formatted + " (" + answer.e164 + ")";
        output.appendChild(e164);
        output.appendChild(document.createTextNode(" · "));
      }
      output.appendChild(document.createTextNode(answer.message));
    }

    function ask() {
      var question = ++asked;
      var query = new URLSearchParams();
      FIELDS.forEach(function (name) {
        query.set(name, value(name));
      });
      fetch(input.dataset.previewUrl + "?" + query.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (answer) {
          if (answer && question === asked) {
            show(answer);
          }
        })
        .catch(function () {
          // A preview that cannot load leaves the field as it was; saving still checks.
        });
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    }

    FIELDS.forEach(function (name) {
      var element = form.elements.namedItem(name);
      if (element && element.addEventListener) {
        element.addEventListener("input", later);
        element.addEventListener("change", later);
      }
    });
    ask();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
