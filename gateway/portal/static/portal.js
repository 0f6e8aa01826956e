/* The portal's one script (served by the gateway; no inline script anywhere, see docs/portal.md).
 *
 * A Passport pasted on /passport is kept for this tab only (sessionStorage: gone when the tab closes, never sent to
 * another tab, never in a cookie or a URL) and sent as "Authorization: Bearer <passport>" on the portal's own htmx
 * requests to the gateway (htmx only talks to the gateway: selfRequestsOnly), so the cohort explorer counts what it
 * grants. "Forget" removes it. Without this script everything works anonymously.
 */
(function () {
  "use strict";
  var KEY = "gw-portal-passport";

  function stored() {
    try { return window.sessionStorage.getItem(KEY); } catch (e) { return null; }
  }

  function forget() {
    try { window.sessionStorage.removeItem(KEY); } catch (e) { /* storage off: nothing kept */ }
    showState();
    refresh();
  }

  function showState() {
    var has = !!stored();
    document.querySelectorAll(".with-passport").forEach(function (el) { el.hidden = !has; });
  }

  function refresh() {
    var form = document.getElementById("facets-form");
    if (form && window.htmx) { window.htmx.trigger(form, "change"); }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.passport-form")) { return; }
    var field = form.querySelector("textarea[name=passport]");
    var token = field ? field.value.trim().split(/\s+/)[0] : "";
    if (token) {
      try { window.sessionStorage.setItem(KEY, token); } catch (e) { /* storage off: not kept */ }
    }
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var token = stored();
    if (token) { event.detail.headers["Authorization"] = "Bearer " + token; }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.matches && target.matches("button.forget-passport")) { forget(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    showState();
    if (stored()) { refresh(); }
  });
}());
