// The replay's guard: the first script of the app ReplayWeb.page's service worker serves at
// replay/ (its `indexScript`, audit/site/replay.py). The worker serves that app to any URL
// under replay/, and a recorded page can navigate the replay frame there without a script
// (a `Refresh` header); an app opened so, with settings of the page's choosing, would replay
// the WACZ without the policy that forbids the recorded pages' scripts. The viewer (ui.js) is
// loaded only for a frame opened with the site's settings and worker; any other shows a note.
//
// The admitted frame is exactly the one viewer.js's <replay-web-page> opens: these parameters
// and no other, `embed=replayonly` (without it ReplayWeb.page 2.5.3 drops `config`, and the
// collection loads with wabac's default policy, which runs scripts: a review reproduced a
// forged hash so), the site's settings and worker, and a WACZ of this site's own.
(function () {
  "use strict";
  var CONFIG = "@CONFIG@";  // the site build writes the settings here
  var SW_NAME = "@SW_NAME@";
  var KNOWN = ["source", "customColl", "config", "basePageUrl", "baseUrlSourcePrefix", "embed",
               "swName", "noWebWorker", "noCache"];
  var params = new URLSearchParams(location.search);

  function sameOrigin(value) {
    try { return new URL(value).origin === location.origin; } catch (e) { return false; }
  }

  function admitted() {
    var keys = Array.from(params.keys());
    if (keys.some(function (key) { return KNOWN.indexOf(key) < 0; })) return false;
    if (keys.length !== new Set(keys).size) return false;  // one value each
    var source;
    try { source = new URL(params.get("source") || ""); } catch (e) { return false; }
    return params.get("embed") === "replayonly" && params.get("config") === CONFIG &&
      params.get("swName") === SW_NAME && params.get("customColl") === "" &&
      source.origin === location.origin && !source.search && !source.hash &&
      /\/evidence\.wacz$/.test(source.pathname) &&
      sameOrigin(params.get("basePageUrl")) && sameOrigin(params.get("baseUrlSourcePrefix")) &&
      [params.get("noWebWorker"), params.get("noCache")].every(function (flag) {
        return flag === null || flag === "1";
      });
  }

  if (admitted()) {
    // Parser-inserted, so the viewer is defined before its element is parsed, as in the
    // worker's own app page.
    document.write('<script src="ui.js"><\/script>');
    return;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.body.textContent = "回放只能从运行的证据页打开 / The replay opens from a run's evidence page.";
  });
})();
