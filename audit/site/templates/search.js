// Offline search over window.HULIAN_SEARCH (search-index.js, written by `hulian site build`).
// Results are built with textContent only: indexed text comes from audited pages.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var index = window.HULIAN_SEARCH || [];
  if (!input || !list) { return; }
  var body = document.body;
  var root = body.getAttribute("data-root") || "";
  var lang = body.getAttribute("data-lang") === "en" ? "en" : "zh";
  var side = lang === "en" ? 1 : 0;
  var kinds = {
    platform: ["平台", "platform"], company: ["公司", "company"], run: ["运行", "run"],
    target: ["目标", "target"], finding: ["发现", "finding"], requirement: ["要求", "requirement"]
  };
  function find(query) {
    var terms = query.toLowerCase().split(/\s+/).filter(function (t) { return t; });
    if (!terms.length) { return []; }
    var found = [];
    for (var i = 0; i < index.length && found.length < 30; i++) {
      var entry = index[i];
      if (terms.every(function (t) { return entry.s.indexOf(t) !== -1; })) { found.push(entry); }
    }
    return found;
  }
  function show() {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var query = input.value;
    if (!query.trim()) { return; }
    var found = find(query);
    if (!found.length) {
      var none = document.createElement("li");
      none.textContent = body.getAttribute("data-none") || "";
      list.appendChild(none);
      return;
    }
    found.forEach(function (entry) {
      var item = document.createElement("li");
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = (kinds[entry.k] || [entry.k, entry.k])[side];
      var link = document.createElement("a");
      link.href = root + lang + "/" + entry.p;
      link.textContent = entry.t[side];
      link.className = "hit";
      item.appendChild(kind);
      item.appendChild(link);
      list.appendChild(item);
    });
  }
  input.addEventListener("input", show);
  window.hulianSearch = find;
}());
