// The replay viewer of a run's evidence page: ReplayWeb.page's <replay-web-page>, vendored in
// the site's replay/, over the run's WACZ. It needs a service worker, which browsers give only
// to secure contexts (https://, http://localhost), never to file://: there the page shows its
// note and the WACZ with its hash instead, and ui.js is not even loaded.
(function () {
  "use strict";
  var box = document.getElementById("viewer");
  if (!box) return;
  if (location.protocol === "file:" || !window.isSecureContext || !("serviceWorker" in navigator)) {
    document.getElementById("replay-unavailable").hidden = false;
    return;
  }
  // An absolute path: the viewer registers replay/sw.js with the scope replay/ (both from
  // replaybase), wherever the site is published, with no Service-Worker-Allowed header.
  var base = new URL(box.getAttribute("data-replay"), location.href).pathname;
  var player = document.createElement("replay-web-page");
  player.setAttribute("source", new URL(box.getAttribute("data-source"), location.href).href);
  player.setAttribute("replaybase", base);
  player.setAttribute("embed", "replayonly");
  // The recorded pages' own scripts do not run: the collection's settings forbid them, and
  // the worker is the site's, whose app at replay/ starts only with these settings
  // (audit/site/replay.py says why; replay/guard.js checks).
  player.setAttribute("config", box.getAttribute("data-config"));
  player.setAttribute("swname", box.getAttribute("data-sw-name"));
  // Links the viewer offers to open "in a new window" stay on this page, not replayweb.page.
  player.setAttribute("newwindowbase", location.href.split("#")[0]);

  function chosen() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && !el.hasAttribute("data-url")) el = el.querySelector("tr.shown[data-url]");
    return el || document.querySelector("tr.shown[data-url]");
  }

  function show() {
    var hop = chosen();
    var current = document.getElementById("replay-current");
    document.getElementById("replay-pick").hidden = !!hop;
    current.hidden = !hop;
    if (!hop) return;
    document.getElementById("replay-url").textContent = hop.getAttribute("data-url");
    document.getElementById("replay-sha256").textContent = hop.getAttribute("data-sha256") || "–";
    player.setAttribute("url", hop.getAttribute("data-url"));
    if (location.hash) box.scrollIntoView({ block: "start" });
  }

  // The viewer's frame must be controlled by its service worker from its first load: the
  // viewer retries only three times, 100 ms apart, and on a busy machine the worker is not
  // active by then (the frame is left with the static host's replay/ listing). So the worker
  // is registered here, with the script URL the viewer uses (no second registration), and
  // the viewer is started once it is active.
  function active(registration) {
    return new Promise(function (resolve) {
      var worker = registration.installing || registration.waiting;
      if (registration.active || !worker) { resolve(); return; }
      worker.addEventListener("statechange", function () {
        if (worker.state === "activated") resolve();
      });
    });
  }

  // ui.js is loaded now, while the page loads: it registers its worker only after the
  // window's load event, which it would never see if it came later.
  var loaded = new Promise(function (resolve, reject) {
    var ui = document.createElement("script");
    ui.src = box.getAttribute("data-ui");
    ui.onload = resolve;
    ui.onerror = reject;
    document.body.appendChild(ui);
  });

  show();
  window.addEventListener("hashchange", show);
  Promise.all([loaded, navigator.serviceWorker.register(base + box.getAttribute("data-sw"),
                                                        { scope: base }).then(active)])
    .then(function () { box.appendChild(player); },
          function () { document.getElementById("replay-unavailable").hidden = false; });
})();
