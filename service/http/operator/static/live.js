// Live refresh for the operator dashboard, loaded as a file (the CSP allows no inline script).
//
// Every few seconds it fetches the page it is on again and swaps in fresh copies of the
// elements marked data-live (tables, counts, the chart), matched by id. Nothing else is
// touched, so the scroll position and anything typed into a form stay as they are; a
// traceback the operator opened (<details>) stays open; and it waits while the operator is
// using a form, has text selected, or the tab is hidden. The "Live refresh" switch turns it
// off (remembered).
(function () {
  "use strict";
  var INTERVAL_MS = 5000;
  var KEY = "service.dashboard.live";
  var toggle = document.getElementById("live-toggle");
  var status = document.getElementById("live-status");
  if (!toggle || !status || !document.querySelector("[data-live]")) {
    return;
  }
  toggle.closest("label").hidden = false;
  toggle.checked = window.localStorage.getItem(KEY) !== "off";
  toggle.addEventListener("change", function () {
    window.localStorage.setItem(KEY, toggle.checked ? "on" : "off");
    status.textContent = toggle.checked ? "" : "paused";
  });
  if (!toggle.checked) {
    status.textContent = "paused";
  }

  function busy() {
    var active = document.activeElement;
    if (active && active !== toggle && active.closest && active.closest("form")) {
      return true;
    }
    var selection = window.getSelection();
    return document.hidden || (selection !== null && !selection.isCollapsed);
  }

  // Errors are only ever appended, so the n-th <details> is the same one after a refresh.
  function keepOpen(part, replacement) {
    var fresh = replacement.querySelectorAll("details");
    part.querySelectorAll("details").forEach(function (details, n) {
      if (details.open && fresh[n]) {
        fresh[n].open = true;
      }
    });
  }

  function refresh() {
    if (!toggle.checked || busy()) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.redirected) {
          status.textContent = "session ended: reload to log in";
          return null;
        }
        if (!response.ok) {
          status.textContent = "refresh failed (" + response.status + ")";
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null || busy()) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (part) {
          var replacement = fresh.getElementById(part.id);
          if (replacement) {
            keepOpen(part, replacement);
            part.replaceWith(document.adoptNode(replacement));
          }
        });
        status.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function () {
        status.textContent = "refresh failed";
      });
  }

  window.setInterval(refresh, INTERVAL_MS);
})();
