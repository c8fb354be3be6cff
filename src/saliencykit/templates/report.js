/* The saliencykit audit report's behaviour: filters, sorting, paging of the image grids, full-size view.
   The rows of the first view are in the page's JSON block; a large audit's other rows arrive in chunk scripts
   (report_files/rows-NNNNN.js, each a call of saliencykitRows with its rows as a JSON string: JSON.parse
   reads them about twice as fast as the browser compiles the same literal), loaded after the page's own
   load, so the page opens at once whatever the audit's size. Filters and sorting
   work on every row loaded so far and run again when the last chunk is in. Only the visible page of each
   grid gets cards, and their pictures load lazily. Cards are built with textContent only, so a label such
   as "<script>" stays text. */
(function () {
  "use strict";
  function byId(id) { return document.getElementById(id); }
  var config = JSON.parse(byId("audit-config").textContent);
  var PAGE = config.page || 48;
  var data = JSON.parse(byId("audit-data").textContent);
  var loading = config.files.length > 0, missing = [];
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.case"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll("#f-cases input[name=case]"));
  var shown = {};
  var f = {
    cls: byId("f-class"), min: byId("f-min"), max: byId("f-max"), text: byId("f-text"), sort: byId("f-sort"),
    focus: byId("f-focus")
  };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function num(x) { return typeof x === "number" && isFinite(x); }
  function fmt(x) { return num(x) ? Number(x).toFixed(2) : "–"; }
  function byName(a, b) { return a.k < b.k ? -1 : (a.k > b.k ? 1 : 0); }
  /* a sort on a number that may be missing: rows without it go last, whatever the direction */
  function byNumber(key, sign) {
    return function (a, b) {
      var x = num(a[key]), y = num(b[key]);
      if (x && y) { return sign * (a[key] - b[key]) || byName(a, b); }
      return (x ? -1 : (y ? 1 : 0)) || byName(a, b);
    };
  }
  var sorters = {
    "score-desc": byNumber("ps", -1),
    "score-asc": byNumber("ps", 1),
    "gt-asc": byNumber("gs", 1),
    "oe-asc": byNumber("oe", 1),
    "bm-desc": byNumber("bm", -1),
    "name": byName
  };

  function filters() {
    var cases = {};
    boxes.forEach(function (b) { if (b.checked) { cases[b.value] = true; } });
    var lo = parseFloat(f.min.value), hi = parseFloat(f.max.value);
    return {
      cases: cases, cls: f.cls.value, text: f.text.value.trim().toLowerCase(),
      min: isNaN(lo) ? 0 : lo, max: isNaN(hi) ? 1 : hi, focus: f.focus ? f.focus.value : ""
    };
  }
  function matches(d, q) {
    if (!q.cases[d.c]) { return false; }
    if (q.cls && d.g !== q.cls && d.p !== q.cls && !(d.m || []).some(function (m) { return m[0] === q.cls; })) {
      return false;
    }
    if (d.ps < q.min || d.ps > q.max) { return false; }
    if (q.text && d.k.toLowerCase().indexOf(q.text) < 0) { return false; }
    if (q.focus === "suspicious" && !(d.sus && d.sus.length)) { return false; }
    return true;
  }
  function figure(src, caption, title) {
    var fig = el("figure"), img = el("img");
    img.loading = "lazy";
    img.alt = caption;
    img.title = title;
    img.addEventListener("error", function () { fig.classList.add("missing"); }, { once: true });
    img.src = src;
    fig.appendChild(img);
    fig.appendChild(el("figcaption", null, caption));
    return fig;
  }
  /* the annotated objects over the photo: boxes in fractions of the image, drawn in percent of the frame */
  function drawBoxes(fig, list) {
    var frame = el("div", "frame");
    frame.appendChild(fig.querySelector("img"));
    list.forEach(function (b) {
      if (!b || !num(b[0]) || !num(b[1]) || !num(b[2]) || !num(b[3])) { return; }
      var x0 = Math.max(0, Math.min(1, b[0])), y0 = Math.max(0, Math.min(1, b[1]));
      var x1 = Math.max(x0, Math.min(1, b[2])), y1 = Math.max(y0, Math.min(1, b[3]));
      var box = el("div", "box");
      box.style.left = (100 * x0) + "%";
      box.style.top = (100 * y0) + "%";
      box.style.width = (100 * (x1 - x0)) + "%";
      box.style.height = (100 * (y1 - y0)) + "%";
      if (b[4] !== null && b[4] !== undefined) { box.appendChild(el("span", null, String(b[4]))); box.title = String(b[4]); }
      frame.appendChild(box);
    });
    fig.insertBefore(frame, fig.firstChild);
    fig.classList.add("boxed");
  }
  function card(d) {
    var c = el("article", "card");
    c.setAttribute("data-key", d.k);
    c.setAttribute("data-score", String(d.ps));
    if (num(d.oe)) { c.setAttribute("data-oe", String(d.oe)); }
    if (num(d.bm)) { c.setAttribute("data-bm", String(d.bm)); }
    var name = el("h4", null, d.k);
    name.title = d.k;
    c.appendChild(name);
    var meta = el("p", "meta");
    if (d.g !== null && d.g !== undefined) { meta.appendChild(el("span", "gt", "ground truth: " + d.g + " " + fmt(d.gs))); }
    var verdict = d.g === null || d.g === undefined ? "" : (d.g === d.p ? "ok" : "bad");
    meta.appendChild(el("span", verdict, "predicted: " + d.p + " " + fmt(d.ps)));
    c.appendChild(meta);
    if (num(d.oe) || num(d.bm) || num(d.cc) || num(d.sp) || (d.sus && d.sus.length)) {
      var focus = el("p", "focus");
      if (num(d.oe)) { focus.appendChild(el("span", "oe", "object energy " + fmt(d.oe))); }
      if (d.oh === true || d.oh === false) { focus.appendChild(el("span", "oh", d.oh ? "peak on the object" : "peak off the object")); }
      if (num(d.bm)) { focus.appendChild(el("span", "bm", "border mass " + fmt(d.bm))); }
      if (num(d.cc)) { focus.appendChild(el("span", "cc", "concentration " + fmt(d.cc))); }
      if (num(d.sp)) { focus.appendChild(el("span", "sp", "shared peak " + fmt(d.sp))); }
      (d.sus || []).forEach(function (r) { focus.appendChild(el("span", "sus", String(r))); });
      c.appendChild(focus);
    }
    var pics = el("div", "pics");
    var photo = figure(d.src, "photo", d.k);
    if (d.b && d.b.length) { drawBoxes(photo, d.b); }
    pics.appendChild(photo);
    (d.m || []).forEach(function (m) {
      pics.appendChild(figure(m[2], m[0] + " " + fmt(m[1]), d.k + ": map of " + m[0] + " (" + fmt(m[1]) + ")"));
    });
    c.appendChild(pics);
    if (d.mt && typeof d.mt === "object") {
      var metrics = el("p", "metrics");
      Object.keys(d.mt).sort().forEach(function (k) { metrics.appendChild(el("span", null, k + " " + fmt(d.mt[k]))); });
      c.appendChild(metrics);
    }
    return c;
  }
  function status() {
    var line = byId("loading");
    if (loading) {
      line.hidden = false;
      line.textContent = "Loading rows: " + data.length + " of " + config.rows + " (filters and counts cover the rows loaded so far)";
    } else if (missing.length) {
      line.hidden = false;
      line.className = "warn";
      line.textContent = "Could not load " + missing.slice().sort().join(", ") + " beside this page: " + (config.rows - data.length) +
        " rows are missing from the grids. Export the report again (re-run the same audit command).";
    } else {
      line.hidden = true;
    }
  }
  /* draw: rebuild the visible grid pages; without it, only the counts change (while chunks arrive) */
  function render(draw) {
    var q = filters();
    var list = data.filter(function (d) { return matches(d, q); });
    if (draw !== false) { list.sort(sorters[f.sort.value] || sorters["score-desc"]); }
    var groups = {};
    list.forEach(function (d) { (groups[d.c] || (groups[d.c] = [])).push(d); });
    sections.forEach(function (s) {
      var name = s.getAttribute("data-case");
      var items = groups[name] || [];
      var limit = shown[name] || PAGE;
      if (draw !== false) {
        var frag = document.createDocumentFragment();
        items.slice(0, limit).forEach(function (d) { frag.appendChild(card(d)); });
        s.querySelector(".grid").replaceChildren(frag);
      }
      s.hidden = items.length === 0;
      s.querySelector(".count").textContent = "(" + items.length + (items.length === 1 ? " image)" : " images)");
      s.querySelector(".more").hidden = items.length <= limit;
    });
    byId("f-count").textContent = list.length + " of " + data.length + " images shown";
    status();
  }
  function restart() { shown = {}; render(); }

  byId("filters").addEventListener("submit", function (e) { e.preventDefault(); });

  [f.cls, f.min, f.max, f.text, f.sort, f.focus].forEach(function (e) { if (e) { e.addEventListener("input", restart); } });
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
    if (f.focus) { f.focus.value = ""; }
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

  /* a link of the "suspicious focus" list: show that image's card (once its row is loaded) and scroll to it */
  var pending = null;
  function jump(key) {
    var row = null;
    for (var i = 0; i < data.length && row === null; i++) { if (data[i].k === key) { row = data[i]; } }
    if (row === null) { pending = key; return false; }
    pending = null;
    reset();
    f.text.value = key;
    boxes.forEach(function (b) { b.checked = b.value === row.c; });
    restart();
    var cards = document.querySelectorAll("article.card"), target = null;
    for (var j = 0; j < cards.length && target === null; j++) { if (cards[j].getAttribute("data-key") === key) { target = cards[j]; } }
    if (target) {
      document.querySelectorAll("article.card.target").forEach(function (c) { c.classList.remove("target"); });
      target.classList.add("target");
      target.scrollIntoView({ block: "center" });
    }
    return true;
  }
  document.querySelectorAll("a.jump").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      if (jump(a.getAttribute("data-key"))) { return; }
      var line = byId("loading");
      line.hidden = false;
      if (loading) {
        line.textContent = "Still loading rows: the card is shown once its row is in.";
      } else {
        pending = null;
        line.className = "warn";
        line.textContent = a.getAttribute("data-key") + " is not among the report's images (failed, skipped or removed since).";
      }
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

  /* the chunks: all requested at once (the browser reads the files in parallel) and run in order, each a
     script that hands its rows to saliencykitRows; the counts follow at most four times a second */
  var started = 0, arrived = 0, counted = 0, seen = {};
  window.saliencykitRows = function (index, text) {
    if (seen[index]) { return; }
    seen[index] = true;
    var rows = null;
    try { rows = JSON.parse(text); } catch (e) { rows = null; }
    if (!Array.isArray(rows)) { missing.push(config.files[index] + " (damaged)"); return; }
    for (var i = 0; i < rows.length; i++) { data.push(rows[i]); }
  };
  function finished() {
    loading = false;
    window.saliencykitLoaded = { rows: data.length, ms: Math.round(performance.now() - started), missing: missing.length };
    render();
    if (pending !== null) { jump(pending); }
  }
  function arrive(s, name, ok) {
    s.remove();
    if (!ok) { missing.push(name); }
    if (++arrived === config.files.length) {
      finished();
    } else if (performance.now() - counted > 250) {
      counted = performance.now();
      render(false);
    }
  }
  function load() {
    config.files.forEach(function (name) {
      var s = document.createElement("script");
      s.async = false;
      s.onload = function () { arrive(s, name, true); };
      s.onerror = function () { arrive(s, name, false); };
      s.src = name;
      document.head.appendChild(s);
    });
  }
  render();
  window.saliencykitFirstView = Math.round(performance.now());
  function begin() { started = performance.now(); counted = started; load(); }
  if (!loading) {
    window.saliencykitLoaded = { rows: data.length, ms: 0, missing: 0 };
  } else if (document.readyState === "complete") {
    begin();
  } else {  // after the page's own load, which chunks added earlier would hold back
    window.addEventListener("load", begin, { once: true });
  }
}());
