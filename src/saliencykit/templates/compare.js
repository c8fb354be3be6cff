/* The comparison page's behaviour: filters by what changed, paging of the image grid.
   It reads the per-image data from the JSON block (already sorted by similarity, least similar first) and
   builds the cards with textContent only, so a key or label such as "<script>" stays text. */
(function () {
  "use strict";
  var PAGE = 40;
  var data = JSON.parse(document.getElementById("compare-data").textContent);
  var boxes = Array.prototype.slice.call(document.querySelectorAll("#filters input[name=flag]"));
  var unchanged = document.getElementById("f-unchanged");
  var text = document.getElementById("f-text");
  var grid = document.getElementById("grid");
  var more = document.getElementById("more");
  var count = document.getElementById("count");
  var NAMES = {
    data_changed: "file differs", status_changed: "status changed", case_changed: "case changed",
    top1_changed: "top-1 changed", map_moved: "map moved"
  };
  var list = [];
  var shown = 0;

  function el(tag, cls, value) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (value !== undefined && value !== null) { e.textContent = value; }
    return e;
  }
  function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(2); }
  function figure(src, caption) {
    var fig = el("figure");
    if (src) {
      var img = el("img");
      img.loading = "lazy";
      img.src = src;
      img.alt = caption;
      img.title = caption;
      fig.appendChild(img);
    }
    fig.appendChild(el("figcaption", null, caption));
    return fig;
  }
  function side(name, d, s) {
    if (d["status_" + s] !== "done") { return "run " + name + ": " + d["status_" + s]; }
    return "run " + name + ": " + d["top1_" + s] + " " + fmt(d["score_" + s]) + " (" + d["case_" + s] + ")";
  }
  function card(d) {
    var c = el("article", "card");
    c.setAttribute("data-key", d.key);
    c.setAttribute("data-similarity", d.similarity === null ? "" : String(d.similarity));
    c.appendChild(el("h4", null, d.key));
    var meta = el("p", "meta");
    Object.keys(NAMES).forEach(function (k) { if (d[k]) { meta.appendChild(el("span", "flag", NAMES[k])); } });
    meta.appendChild(el("span", null, "similarity " + fmt(d.similarity)));
    meta.appendChild(el("span", null, "peak shift " + fmt(d.peak_shift)));
    if (d.gt !== null) { meta.appendChild(el("span", null, "ground truth: " + d.gt)); }
    c.appendChild(meta);
    if (d.note) { c.appendChild(el("p", "note", d.note)); }
    var pics = el("div", "pics");
    pics.appendChild(figure(d.photo_a, d.photo_b ? "photo of run A" : "photo"));
    if (d.photo_b) { pics.appendChild(figure(d.photo_b, "photo of run B")); }
    pics.appendChild(figure(d.overlay_a, side("A", d, "a")));
    pics.appendChild(figure(d.overlay_b, side("B", d, "b")));
    c.appendChild(pics);
    return c;
  }
  function wanted() {
    var flags = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var q = text.value.trim().toLowerCase();
    return data.filter(function (d) {
      if (q && d.key.toLowerCase().indexOf(q) < 0) { return false; }
      if (!d.changed) { return unchanged.checked; }
      return flags.some(function (f) { return d[f]; });
    });
  }
  function page() {
    var end = Math.min(list.length, shown + PAGE);
    for (var i = shown; i < end; i++) { grid.appendChild(card(list[i])); }
    shown = end;
    more.hidden = shown >= list.length;
    count.textContent = list.length + " of " + data.length + " image(s) match; showing " + shown + ".";
  }
  function render() {
    list = wanted();
    shown = 0;
    grid.textContent = "";
    page();
  }
  document.getElementById("filters").addEventListener("change", render);
  text.addEventListener("input", render);
  more.addEventListener("click", page);
  render();
})();
