/* The saliencykit audit report's behaviour: filters, sorting, paging of the image grids, full-size view.
   It reads the per-image data from the JSON block and builds the cards with textContent only, so a label
   such as "<script>" stays text. */
(function () {
  "use strict";
  var PAGE = 48;
  var data = JSON.parse(document.getElementById("audit-data").textContent);
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.case"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll("#f-cases input[name=case]"));
  var shown = {};
  function byId(id) { return document.getElementById(id); }
  var f = { cls: byId("f-class"), min: byId("f-min"), max: byId("f-max"), text: byId("f-text"), sort: byId("f-sort") };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(2); }
  function byName(a, b) { return a.k < b.k ? -1 : (a.k > b.k ? 1 : 0); }
  var sorters = {
    "score-desc": function (a, b) { return (b.ps - a.ps) || byName(a, b); },
    "score-asc": function (a, b) { return (a.ps - b.ps) || byName(a, b); },
    "gt-asc": function (a, b) { return ((a.gs === null ? 2 : a.gs) - (b.gs === null ? 2 : b.gs)) || byName(a, b); },
    "name": byName
  };

  function filters() {
    var cases = {};
    boxes.forEach(function (b) { if (b.checked) { cases[b.value] = true; } });
    var lo = parseFloat(f.min.value), hi = parseFloat(f.max.value);
    return {
      cases: cases, cls: f.cls.value, text: f.text.value.trim().toLowerCase(),
      min: isNaN(lo) ? 0 : lo, max: isNaN(hi) ? 1 : hi
    };
  }
  function matches(d, q) {
    if (!q.cases[d.c]) { return false; }
    if (q.cls && d.g !== q.cls && d.p !== q.cls && !d.m.some(function (m) { return m[0] === q.cls; })) { return false; }
    if (d.ps < q.min || d.ps > q.max) { return false; }
    if (q.text && d.k.toLowerCase().indexOf(q.text) < 0) { return false; }
    return true;
  }
  function figure(src, caption, title) {
    var fig = el("figure"), img = el("img");
    img.loading = "lazy";
    img.src = src;
    img.alt = caption;
    img.title = title;
    fig.appendChild(img);
    fig.appendChild(el("figcaption", null, caption));
    return fig;
  }
  function card(d) {
    var c = el("article", "card");
    c.setAttribute("data-key", d.k);
    c.setAttribute("data-score", String(d.ps));
    var name = el("h4", null, d.k);
    name.title = d.k;
    c.appendChild(name);
    var meta = el("p", "meta");
    if (d.g !== null) { meta.appendChild(el("span", "gt", "ground truth: " + d.g + " " + fmt(d.gs))); }
    var verdict = d.g === null ? "" : (d.g === d.p ? "ok" : "bad");
    meta.appendChild(el("span", verdict, "predicted: " + d.p + " " + fmt(d.ps)));
    c.appendChild(meta);
    var pics = el("div", "pics");
    pics.appendChild(figure(d.src, "photo", d.k));
    d.m.forEach(function (m) {
      pics.appendChild(figure(m[2], m[0] + " " + fmt(m[1]), d.k + ": map of " + m[0] + " (" + fmt(m[1]) + ")"));
    });
    c.appendChild(pics);
    return c;
  }
  function render() {
    var q = filters();
    var list = data.filter(function (d) { return matches(d, q); });
    list.sort(sorters[f.sort.value] || sorters["score-desc"]);
    sections.forEach(function (s) {
      var name = s.getAttribute("data-case");
      var items = list.filter(function (d) { return d.c === name; });
      var limit = shown[name] || PAGE;
      var grid = s.querySelector(".grid");
      var frag = document.createDocumentFragment();
      items.slice(0, limit).forEach(function (d) { frag.appendChild(card(d)); });
      grid.replaceChildren(frag);
      s.hidden = items.length === 0;
      s.querySelector(".count").textContent = "(" + items.length + (items.length === 1 ? " image)" : " images)");
      s.querySelector(".more").hidden = items.length <= limit;
    });
    byId("f-count").textContent = list.length + " of " + data.length + " images shown";
  }
  function restart() { shown = {}; render(); }

  byId("filters").addEventListener("submit", function (e) { e.preventDefault(); });

  [f.cls, f.min, f.max, f.text, f.sort].forEach(function (e) { e.addEventListener("input", restart); });
  boxes.forEach(function (b) { b.addEventListener("change", restart); });
  sections.forEach(function (s) {
    s.querySelector(".more").addEventListener("click", function () {
      var name = s.getAttribute("data-case");
      shown[name] = (shown[name] || PAGE) + PAGE;
      render();
    });
  });
  function reset() {
    boxes.forEach(function (b) { b.checked = true; });
    f.cls.value = ""; f.min.value = "0"; f.max.value = "1"; f.text.value = "";
  }
  byId("f-reset").addEventListener("click", function () { reset(); restart(); });
  document.querySelectorAll("a.only-case").forEach(function (a) {
    a.addEventListener("click", function () {
      reset();
      boxes.forEach(function (b) { b.checked = b.value === a.getAttribute("data-case"); });
      restart();
    });
  });
  document.querySelectorAll("a.only-class").forEach(function (a) {
    a.addEventListener("click", function () {
      reset();
      f.cls.value = a.getAttribute("data-class");
      restart();
    });
  });

  var box = byId("lightbox"), big = box.querySelector("img"), caption = box.querySelector("figcaption");
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.tagName === "IMG" && t.closest(".pics")) {
      big.src = t.src;
      big.alt = t.alt;
      caption.textContent = t.title;
      box.hidden = false;
    } else if (!box.hidden && box.contains(t)) {
      box.hidden = true;
    }
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { box.hidden = true; } });
  render();
}());
