// The root page: go to the reader's language when the browser says which (links otherwise).
(function () {
  "use strict";
  var langs = navigator.languages || [navigator.language || ""];
  var first = String(langs[0] || "").toLowerCase();
  if (first.indexOf("zh") === 0) { location.replace("zh/index.html"); }
  else if (first) { location.replace("en/index.html"); }
}());
