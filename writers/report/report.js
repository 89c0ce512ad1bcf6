// heapgrab report: draws the summary, the flame graph and the top table
// from the JSON in #hg-data (its format: writers/report_html.c).  Plain
// JavaScript, no library; nothing is loaded from anywhere.
"use strict";
// A big profile's data comes gzipped, in base64 after "gz:".
(function () {
  var text = document.getElementById("hg-data").textContent;
  if (text.slice(0, 3) !== "gz:") { main(JSON.parse(text)); return; }
  var bin = atob(text.slice(3).replace(/\s+/g, "")), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(function (t) { main(JSON.parse(t)); }, function (e) {
    document.body.setAttribute("data-error", String(e));
    throw e;
  });
})();

function main(D) {
  var t0 = performance.now();
  var nt = D.types.length, hasBase = D.base;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---------------------------------------------------------------- units
  function human(v, unit) {
    var a = Math.abs(v), s;
    if (unit === "bytes") {
      var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
      while (a >= 1024 && i < u.length - 1) { a /= 1024; i++; }
      s = (i ? a.toFixed(a < 10 ? 2 : 1) : String(a)) + " " + u[i];
    } else if (unit === "nanoseconds") {
      s = a >= 1e9 ? (a / 1e9).toFixed(2) + " s" : a >= 1e6 ? (a / 1e6).toFixed(1) + " ms" :
          a >= 1e3 ? (a / 1e3).toFixed(1) + " \u00b5s" : a + " ns";
    } else {
      s = String(a);
    }
    return (v < 0 ? "-" : "") + s;
  }
  function pct(v, total) { return total ? (100 * v / total).toFixed(2) + "%" : "-"; }
  function exact(v) { return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); }

  // --------------------------------------------------------------- header
  document.title = D.title + " \u2014 heapgrab";
  $("title").textContent = D.title;
  var meta = [];
  if (D.meta.exe) meta.push(D.meta.exe);
  if (D.meta.pid) meta.push("pid " + D.meta.pid);
  if (D.meta.time_nanos) meta.push(new Date(D.meta.time_nanos / 1e6).toISOString());
  if (D.meta.samples !== undefined)
    meta.push(D.meta.samples + " samples in " + (D.meta.duration_ns / 1e9).toFixed(2) + " s, " +
              D.meta.threads + " threads");
  if (hasBase) meta.push("compared with a base profile");
  $("meta").textContent = meta.join(" \u00b7 ");
  $("footer").textContent = "heapgrab " + D.version + " \u00b7 " + D.kind + " report";
  if (D.comments.length) {
    $("notes").hidden = false;
    $("comments").textContent = D.comments.join("\n");
  }

  // -------------------------------------------------------------- summary
  // The stats command's figures: what the process took from the OS, what
  // is in use, what is idle (by kind), released, overhead, and RSS.
  var COLORS = { inuse_bytes: "#d9534f", free_bytes: "#5b9bd5", top_bytes: "#9fc5e8",
                 tcache_bytes: "#f0ad4e", fastbin_bytes: "#ffd966", overhead_bytes: "#999",
                 headers: "#c9b3d9" };
  function summary(st) {
    var t = st.totals, sys = t.sys_bytes;
    $("summary").hidden = false;
    var body = $("summary-table").tBodies[0];
    // share: of what the heap took from the OS, or for the RSS rows of
    // the RSS
    function row(label, field, objField, cls, value, whole) {
      var v = value !== undefined ? value : t[field];
      var tr = el("tr", cls ? { "class": cls } : null);
      tr.appendChild(el("td", null, label));
      var td = el("td", { "data-field": field, "data-value": v === null ? "" : String(v) },
                  v === null ? "n/a" : exact(v) + " B");
      td.title = v === null ? "" : human(v, "bytes");
      tr.appendChild(td);
      var o = objField ? t[objField] : undefined;
      tr.appendChild(el("td", objField ? { "data-field": objField, "data-value": String(o) } : null,
                        objField ? exact(o) : ""));
      tr.appendChild(el("td", null, v === null || whole === null ? "" :
                        pct(v, whole === undefined ? sys : whole) + (whole ? " of RSS" : "")));
      body.appendChild(tr);
    }
    var idle = t.free_bytes + t.top_bytes + t.tcache_bytes + t.fastbin_bytes;
    row("taken from the OS", "sys_bytes", null, "sum");
    row("in use (usable bytes)", "inuse_bytes", "inuse_objects");
    row("idle", "idle_bytes", null, "sum", idle);
    row("free in bins", "free_bytes", "free_objects", "part");
    row("top", "top_bytes", null, "part");
    row("tcache", "tcache_bytes", "tcache_objects", "part");
    row("fastbins", "fastbin_bytes", "fastbin_objects", "part");
    row("released (idle, not resident)", "released_bytes");
    row("mmapped (also in use)", "mmapped_bytes", "mmapped_objects");
    row("overhead", "overhead_bytes");
    // RSS explained: the heap's resident pages, and the rest
    var rss = st.rss_bytes;
    row("RSS of the process", "rss_bytes", null, "sum", rss, null);
    row("heap resident", "heap_resident_bytes", null, "part", st.heap_resident_bytes, rss || null);
    if (rss !== null && st.heap_resident_bytes !== null)
      row("rest of RSS (code, stacks, other mappings)", "other_rss_bytes", null, "part",
          Math.max(0, rss - st.heap_resident_bytes), rss || null);
    if (st.leaks) {
      row("leaked (direct)", "direct_bytes", null, null, st.leaks.direct_bytes);
      row("leaked (indirect)", "indirect_bytes", null, null, st.leaks.indirect_bytes);
    }
    // the bar: the OS's bytes by what they are now; in-use chunks' headers
    // and rounding are what is left
    var parts = [["in use", "inuse_bytes", t.inuse_bytes], ["free in bins", "free_bytes", t.free_bytes],
                 ["top", "top_bytes", t.top_bytes], ["tcache", "tcache_bytes", t.tcache_bytes],
                 ["fastbins", "fastbin_bytes", t.fastbin_bytes], ["overhead", "overhead_bytes", t.overhead_bytes]];
    var used = 0;
    parts.forEach(function (p) { used += p[2]; });
    if (sys > used) parts.push(["chunk headers and the rest", "headers", sys - used]);
    var bar = $("bar"), legend = $("legend"), whole = Math.max(sys, used);
    parts.forEach(function (p) {
      if (!p[2]) return;
      var d = el("div", { "data-part": p[1] });
      d.style.width = (100 * p[2] / whole) + "%";
      d.style.background = COLORS[p[1]];
      d.title = p[0] + ": " + human(p[2], "bytes") + " (" + pct(p[2], sys) + ")";
      bar.appendChild(d);
      var s = el("span");
      var sw = el("i");
      sw.style.background = COLORS[p[1]];
      s.appendChild(sw);
      s.appendChild(document.createTextNode(p[0] + " " + human(p[2], "bytes")));
      legend.appendChild(s);
    });
  }
  if (D.stats) summary(D.stats);

  // ---------------------------------------------------------- the tree
  var N = D.parent.length;
  var parent = new Int32Array(N), name = new Int32Array(N), depth = new Int32Array(N);
  var kids = new Array(N);
  for (var i = 0; i < N; i++) {
    parent[i] = i - D.parent[i];
    name[i] = D.name[i];
    kids[i] = [];
    if (i) { kids[parent[i]].push(i); depth[i] = depth[parent[i]] + 1; }
  }
  var maxDepth = 0;
  for (i = 0; i < N; i++) if (depth[i] > maxDepth) maxDepth = depth[i];
  // a canvas taller than some 32,000 pixels is not drawn at all: deeper
  // rows are left out (the tooltip and the table still have them)
  var MAXROWS_DRAWN = 1500;
  var rowsDrawn = Math.min(maxDepth + 1, MAXROWS_DRAWN);
  var cum = new Float64Array(N), bcum = new Float64Array(N), self = new Float64Array(N);
  var type = D["default"];

  // each node's value and its base's, summed up the tree (a child always
  // comes after its parent)
  function compute() {
    for (var i = 0; i < N; i++) {
      self[i] = cum[i] = D.self[type][i];
      bcum[i] = hasBase ? D.self[nt + type][i] : 0;
    }
    for (i = N - 1; i > 0; i--) { cum[parent[i]] += cum[i]; bcum[parent[i]] += bcum[i]; }
    for (i = 0; i < N; i++) kids[i].sort(function (a, b) { return cum[b] - cum[a] || name[a] - name[b]; });
  }

  // ---------------------------------------------------------- flame graph
  var canvas = $("canvas"), ctx = canvas.getContext("2d"), tip = $("tip");
  var ROW = 18, focus = 0, matchRe = null, rects = [];
  var SPECIAL = { "(free)": "#9fc5e8", "(leaked)": "#e06666", "direct leak": "#e06666",
                  "indirect leak": "#ea9999", "(several roots)": "#b4a7d6", "(deeper holders)": "#ccc" };
  function hashColor(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    var r = 205 + (Math.abs(h) % 50), g = 80 + (Math.abs(h >> 8) % 130), b = 40 + (Math.abs(h >> 16) % 50);
    return "rgb(" + r + "," + g + "," + b + ")";
  }
  function color(n) {
    var s = D.names[name[n]];
    if (matchRe && matchRe.test(s)) return "#c050e0";
    if (hasBase) {
      var a = cum[n], b = bcum[n];
      if (a === b) return "#ddd";
      var r = Math.min(1, Math.abs(a - b) / Math.max(a, b, 1));
      var k = Math.round(235 - 150 * r);
      return a > b ? "rgb(255," + k + "," + k + ")" : "rgb(" + k + "," + k + ",255)";
    }
    if (n === 0) return "#bbb";
    if (SPECIAL[s]) return SPECIAL[s];
    if (D.kind === "cpu" && depth[n] === 1 && s.indexOf("thread ") === 0) return "#aab";
    return hashColor(s);
  }
  function draw() {
    var width = canvas.parentNode.clientWidth || 1200, dpr = window.devicePixelRatio || 1;
    // rows: the focus's ancestors above it, then its subtree
    var chain = [];
    for (var a = focus; a > 0; a = parent[a]) chain.unshift(a);
    chain.unshift(0);
    var height = rowsDrawn * ROW;
    canvas.width = width * dpr; canvas.height = height * dpr;
    canvas.style.height = height + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    rects = [];
    function box(n, x, w, d) {
      ctx.fillStyle = color(n);
      ctx.fillRect(x, d * ROW, Math.max(w - 1, 0.5), ROW - 1);
      rects.push([x, w, d, n]);
      if (w > 30) {
        ctx.fillStyle = "#000";
        var label = n === 0 ? "all" : D.names[name[n]], room = Math.floor((w - 6) / 6.5);
        if (label.length > room) label = label.slice(0, Math.max(room - 1, 1)) + "\u2026";
        ctx.fillText(label, x + 3, d * ROW + ROW / 2);
      }
    }
    for (var c = 0; c < chain.length - 1; c++) box(chain[c], 0, width, c);
    (function walk(n, x, w, d) {
      if (d >= rowsDrawn) return;
      box(n, x, w, d);
      var cx = x;
      for (var k = 0; k < kids[n].length; k++) {
        var ch = kids[n][k], cw = w * cum[ch] / cum[n];
        // sorted largest first: the rest are smaller (and a node of no
        // value, or a crafted negative one, has no room for children)
        if (!(cw >= 0.3)) break;
        walk(ch, cx, cw, d + 1);
        cx += cw;
      }
    })(focus, 0, width, chain.length - 1);
    // which frame is zoomed into, for a reader of the DOM (the tests)
    canvas.parentNode.setAttribute("data-focus", focus === 0 ? "all" : D.names[name[focus]]);
  }
  function at(ev) {
    var r = canvas.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
    var d = Math.floor(y / ROW);
    for (var i = rects.length - 1; i >= 0; i--) {
      var q = rects[i];
      if (q[2] === d && x >= q[0] && x < q[0] + q[1]) return q[3];
    }
    return -1;
  }
  function unitOf() { return D.types[type].unit; }
  canvas.addEventListener("mousemove", function (ev) {
    var n = at(ev);
    if (n < 0) { tip.hidden = true; return; }
    var u = unitOf(), total = cum[0];
    var lines = [n === 0 ? "all" : D.names[name[n]],
                 D.types[type].type + ": " + human(cum[n], u) + " (" + pct(cum[n], total) + ")",
                 "self: " + human(self[n], u)];
    if (hasBase) {
      var delta = cum[n] - bcum[n];
      lines.push("base: " + human(bcum[n], u) + ", change " + (delta >= 0 ? "+" : "") + human(delta, u));
    }
    tip.textContent = "";
    lines.forEach(function (l, i) { tip.appendChild(el(i ? "div" : "b", null, l)); });
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 300) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
  canvas.addEventListener("click", function (ev) {
    var n = at(ev);
    if (n >= 0) { focus = n; draw(); }
  });
  $("reset").addEventListener("click", function () { focus = 0; draw(); });
  $("search").addEventListener("input", function () {
    var q = this.value;
    try { matchRe = q ? new RegExp(q) : null; } catch (e) { matchRe = null; }
    // the value of the matching frames, each counted once (a match under
    // another match is already in it)
    var sum = 0;
    if (matchRe) {
      // depth first, with a stack of our own: a stack thousands of frames
      // deep is no reason to overflow the script's
      var todo = [[0, false]];
      while (todo.length) {
        var item = todo.pop(), n = item[0], m = !item[1] && n > 0 && matchRe.test(D.names[name[n]]);
        if (m) sum += cum[n];
        for (var k = 0; k < kids[n].length; k++) todo.push([kids[n][k], item[1] || m]);
      }
    }
    $("matched").textContent = matchRe ? "matched: " + human(sum, unitOf()) + " (" + pct(sum, cum[0]) + ")" : "";
    draw();
  });
  window.addEventListener("resize", function () { draw(); });

  var sel = $("type");
  D.types.forEach(function (t, i) {
    var o = el("option", { value: String(i) }, t.type + " (" + t.unit + ")");
    if (i === type) o.selected = true;
    sel.appendChild(o);
  });
  sel.addEventListener("change", function () { type = +this.value; compute(); draw(); topTable(); });
  if (hasBase) $("diff-hint").hidden = false;
  $("flame-title").textContent = D.kind === "cpu" ? "Flame graph (by thread, then function; root at the top)"
    : D.kind === "heap" ? "Flame graph of the heap (root at the top: who holds the memory, or the size classes)"
    : "Flame graph (root at the top)";

  // ------------------------------------------------------------ top table
  // go tool pprof -top's columns, from the writer's figures; click a
  // heading to sort by it.
  var MAXROWS = 2000, sortCol = 0, sortDesc = true;
  function topRows() {
    var rows = D.top.map(function (e) {
      var mark = e[1 + 2 * nt * (hasBase ? 2 : 1) + type];
      var r = { name: D.names[e[0]] + (mark === 1 ? " (inline)" : mark === 2 ? " (partial-inline)" : ""),
                flat: e[1 + 2 * type], cum: e[2 + 2 * type] };
      if (hasBase) {
        r.bflat = e[1 + 2 * nt + 2 * type]; r.bcum = e[2 + 2 * nt + 2 * type];
        r.dflat = r.flat - r.bflat; r.dcum = r.cum - r.bcum;
      }
      return r;
    });
    return rows.filter(function (r) { return r.flat || r.cum || r.bflat || r.bcum; });
  }
  var COLS = [["flat", "flat"], ["flat%", "flat"], ["sum%", null], ["cum", "cum"], ["cum%", "cum"]];
  if (hasBase) COLS.push(["flat change", "dflat"], ["cum change", "dcum"]);
  COLS.push(["name", "name"]);
  function topTable() {
    var u = unitOf(), total = D.total[type];
    var rows = topRows(), key = COLS[sortCol][1] || "flat";
    rows.sort(function (a, b) {
      var x = a[key], y = b[key], c;
      if (key === "name") c = x < y ? -1 : x > y ? 1 : 0;
      else c = hasBase && key[0] === "d" ? Math.abs(x) - Math.abs(y) : x - y;
      if (c === 0) c = key === "flat" ? a.cum - b.cum : a.flat - b.flat;
      if (c === 0) c = a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
      return sortDesc ? -c : c;
    });
    var head = $("top-table").tHead.rows[0];
    head.textContent = "";
    COLS.forEach(function (c, i) {
      var th = el("th", { "data-col": String(i) }, c[0]);
      if (i === sortCol) th.className = "sorted";
      head.appendChild(th);
    });
    var body = $("top-table").tBodies[0];
    var frag = document.createDocumentFragment(), sum = 0;
    rows.slice(0, MAXROWS).forEach(function (r) {
      sum += r.flat;
      var tr = el("tr", { "data-name": r.name, "data-flat": String(r.flat), "data-cum": String(r.cum) });
      tr.appendChild(el("td", null, human(r.flat, u)));
      tr.appendChild(el("td", null, pct(r.flat, total)));
      tr.appendChild(el("td", null, pct(sum, total)));
      tr.appendChild(el("td", null, human(r.cum, u)));
      tr.appendChild(el("td", null, pct(r.cum, total)));
      if (hasBase) {
        [r.dflat, r.dcum].forEach(function (d) {
          tr.appendChild(el("td", { "class": d > 0 ? "grew" : d < 0 ? "shrank" : "" },
                            (d > 0 ? "+" : "") + human(d, u)));
        });
      }
      tr.appendChild(el("td", null, r.name));
      frag.appendChild(tr);
    });
    body.textContent = "";
    body.appendChild(frag);
    $("top-note").textContent = "Each function's own value (flat) and the value of the stacks it is in (cum), as go tool pprof -top gives them; " +
      D.types[type].type + ", total " + human(total, u) +
      (hasBase ? " (the base's " + human(D.base_total[type] || 0, u) + ")" : "") +
      (rows.length > MAXROWS ? "; the first " + MAXROWS + " of " + rows.length + " functions" : "; " + rows.length + " functions") + ".";
  }
  $("top-table").tHead.addEventListener("click", function (ev) {
    var c = ev.target.getAttribute("data-col");
    if (c === null) return;
    c = +c;
    if (c === sortCol) sortDesc = !sortDesc; else { sortCol = c; sortDesc = COLS[c][1] !== "name"; }
    topTable();
  });

  compute();
  draw();
  topTable();
  // when the page was drawn, for the tests' record (performance.now()
  // counts from the start of the page's load)
  document.body.setAttribute("data-drawn-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-build-ms", String(Math.round(performance.now() - t0)));
  document.body.setAttribute("data-ready", "1");
}
