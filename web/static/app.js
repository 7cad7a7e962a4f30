// govs web tool: auto-refresh of the routing table, the rate chart, and
// confirmation of destructive buttons. No framework: the pages work
// without it, this only keeps the monitoring page live.
(function () {
  "use strict";

  document.querySelectorAll("form.confirm").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.dataset.confirm || "Delete? lvs.cf is changed and reloaded.")) e.preventDefault();
    });
  });

  var table = document.getElementById("table");
  var chart = document.getElementById("chart");
  if (!table && !chart) return;
  var auto = document.getElementById("auto");
  var freq = document.getElementById("freq");
  var updated = document.getElementById("updated");
  var timer = null;

  function refreshTable() {
    if (!table) return Promise.resolve();
    return fetch(table.dataset.src, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401 || r.redirected) { window.location = "/login"; return; }
      return r.text().then(function (html) {
        table.innerHTML = html;
        if (updated) updated.textContent = "updated " + new Date().toLocaleTimeString();
      });
    }).catch(function () {});
  }

  function fmt(v) {
    if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + "K";
    if (v > 0 && v < 10) return v.toFixed(v < 1 ? 2 : 1);
    return String(Math.round(v));
  }

  // draw plots each series on its own scale (connections and bytes differ
  // by orders of magnitude); the left axis labels the byte rates.
  function draw(points) {
    var dpr = window.devicePixelRatio || 1;
    var w = chart.clientWidth, h = chart.clientHeight;
    chart.width = w * dpr; chart.height = h * dpr;
    var g = chart.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    var L = 50, R = 10, T = 10, B = 22;
    g.strokeStyle = "#d9dee7"; g.fillStyle = "#6a7385"; g.font = "11px sans-serif";
    var series = [
      { k: "inbps", c: "#2e8b57" }, { k: "outbps", c: "#d2691e" },
      { k: "cps", c: "#1f6fd1" }, { k: "active", c: "#8a2be2" }
    ];
    var bmax = 1;
    points.forEach(function (p) { bmax = Math.max(bmax, p.inbps, p.outbps); });
    for (var i = 0; i <= 4; i++) {
      var y = T + (h - T - B) * i / 4;
      g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke();
      g.fillText(fmt(bmax * (4 - i) / 4), 4, y + 4);
    }
    if (points.length < 2) { g.fillText("collecting samples…", L + 10, T + 20); return; }
    var t0 = points[0].t, t1 = points[points.length - 1].t;
    var span = Math.max(t1 - t0, 1);
    g.fillText(Math.round(span / 60000 * 10) / 10 + " min", w - R - 50, h - 6);
    series.forEach(function (s) {
      var max = (s.k === "inbps" || s.k === "outbps") ? bmax : 1;
      if (max === 1) points.forEach(function (p) { max = Math.max(max, p[s.k]); });
      g.strokeStyle = s.c; g.lineWidth = 2; g.beginPath();
      points.forEach(function (p, j) {
        var x = L + (w - L - R) * (p.t - t0) / span;
        var y = h - B - (h - T - B) * p[s.k] / max;
        if (j === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    });
  }

  function refreshChart() {
    if (!chart) return Promise.resolve();
    return fetch(chart.dataset.src, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (d) { if (d) draw(d.points || []); }).catch(function () {});
  }

  function tick() {
    refreshTable(); refreshChart();
    schedule();
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (auto && !auto.checked) return;
    var s = parseFloat(freq && freq.value) || 2;
    timer = setTimeout(tick, Math.max(s, 1) * 1000);
  }

  var now = document.getElementById("now");
  if (now) now.addEventListener("click", function () { refreshTable(); refreshChart(); });
  if (auto) auto.addEventListener("change", schedule);
  if (freq) freq.addEventListener("change", schedule);
  refreshChart();
  schedule();
})();
