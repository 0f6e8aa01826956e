/* The portal's one script (served by the gateway; no inline script anywhere, see docs/portal.md).
 *
 * A Passport pasted on /passport is kept for this tab only (sessionStorage: gone when the tab closes, never sent to
 * another tab, never in a cookie or a URL) and sent as "Authorization: Bearer <passport>" on the portal's own htmx
 * requests to the gateway (htmx only talks to the gateway: selfRequestsOnly), so the cohort explorer counts what it
 * grants. "Forget" removes it. Without this script everything works anonymously.
 *
 * "Download with your Passport" (the lookup page, files that are not open data): on click only, the DRS access
 * call (GET /ga4gh/drs/v1/objects/{id}/access/{access_id}) goes to the gateway with the Passport as its bearer
 * token, and the browser then opens the signed URL it answers. The URL is never put in the page; the Passport
 * never goes in a URL (the request carries it in its Authorization header only).
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

  function say(status, text) {
    if (status) { status.textContent = text; }
  }

  function accessPath(id, accessId) {
    var segments = String(id).split("/").map(encodeURIComponent).join("/");
    return "/ga4gh/drs/v1/objects/" + segments + "/access/" + encodeURIComponent(accessId);
  }

  function download(button) {
    var token = stored();
    var status = button.parentNode.querySelector(".download-status");
    if (!token) { say(status, "No Passport in this tab: paste one on the Passport page."); return; }
    button.disabled = true;
    say(status, "Asking for the file…");
    window.fetch(accessPath(button.getAttribute("data-object"), button.getAttribute("data-access")), {
      headers: { "Authorization": "Bearer " + token, "Accept": "application/json" },
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer", redirect: "error"
    }).then(function (response) {
      return response.json().then(function (doc) { return { ok: response.ok, doc: doc || {} }; },
                                   function () { return { ok: false, doc: {} }; });
    }).then(function (answer) {
      button.disabled = false;
      if (!answer.ok) {
        say(status, "Refused: " + (answer.doc.msg || "the download was not allowed"));
        return;
      }
      var url = String(answer.doc.url || "");
      if (answer.doc.headers && Object.keys(answer.doc.headers).length) {
        say(status, "This file's URL needs request headers a browser cannot send: use the DRS API.");
      } else if (!/^https?:\/\//i.test(url)) {
        say(status, "The member commons answered a URL a browser cannot open.");
      } else {
        say(status, "Downloading…");
        window.location.assign(url);
      }
    }, function () {
      button.disabled = false;
      say(status, "The gateway could not be reached.");
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    if (target.closest("button.forget-passport")) { forget(); return; }
    var button = target.closest("button.passport-download");
    if (button) { download(button); }
  });

  document.addEventListener("htmx:afterSwap", showState);  /* results swapped in: their Passport buttons */

  document.addEventListener("DOMContentLoaded", function () {
    showState();
    if (stored()) { refresh(); }
  });
}());
