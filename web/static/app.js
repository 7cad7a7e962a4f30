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
  var charts = document.getElementById("charts");
  if (!table && !charts) return;
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

  // The charts are dygraphs (vendored in /static/dygraphs): a time axis,
  // one unit per axis (connections/s on the left and active connections
  // on the right of one chart, bytes/s on the other) and values on hover.
  var graphs = null;
  function plots(points) {
    if (typeof Dygraph === "undefined") return;
    var conns = [], bytes = [];
    points.forEach(function (p) {
      var t = new Date(p.t);
      conns.push([t, p.cps, p.active]);
      bytes.push([t, p.inbps, p.outbps]);
    });
    if (conns.length === 0) {
      var now = new Date();
      conns.push([now, 0, 0]);
      bytes.push([now, 0, 0]);
    }
    if (graphs) {
      graphs.conns.updateOptions({ file: conns });
      graphs.bytes.updateOptions({ file: bytes });
      return;
    }
    var hms = function (d) { return new Date(d).toTimeString().slice(0, 8); };
    var common = { legend: "always", labelsSeparateLines: false, strokeWidth: 2, axisLabelWidth: 60,
      labelsKMB: true, drawPoints: false,
      axes: { x: { axisLabelFormatter: hms, valueFormatter: hms, pixelsPerLabel: 110, axisLabelWidth: 70 } } };
    // Connections are whole: no tick between two.
    var whole = function (v) { return Number.isInteger(v) ? String(v) : ""; };
    graphs = {
      conns: new Dygraph(document.getElementById("chart-conns"), conns, Object.assign({}, common, {
        labels: ["time", "connections/s", "active connections"], colors: ["#1f6fd1", "#8a2be2"],
        labelsDiv: "legend-conns", ylabel: "connections/s", y2label: "active",
        series: { "active connections": { axis: "y2" } },
        axes: { x: common.axes.x, y2: { independentTicks: true, axisLabelFormatter: whole } }
      })),
      bytes: new Dygraph(document.getElementById("chart-bytes"), bytes, Object.assign({}, common, {
        labels: ["time", "bytes/s in", "bytes/s out"], colors: ["#2e8b57", "#d2691e"],
        labelsDiv: "legend-bytes", ylabel: "bytes/s"
      }))
    };
  }

  function refreshChart() {
    if (!charts) return Promise.resolve();
    return fetch(charts.dataset.src, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (d) { if (d) plots(d.points || []); }).catch(function () {});
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
  // The chart library is a deferred script after this one: it has run by
  // DOMContentLoaded.
  document.addEventListener("DOMContentLoaded", function () { refreshChart(); });
  schedule();
})();
