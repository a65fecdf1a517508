// Gatehouse charts: <canvas data-chart='{"type", "labels", "series": [{label, data, type?, axis?}],
// "stacked"?, "decimals"?, "percent"?}'> drawn with Chart.js (npm, node_modules). The data is an
// attribute, never an inline
// script (the Content-Security-Policy forbids those). Runs on load and on every htmx swap.
(function () {
  "use strict";

  var COLORS = ["#4f46e5", "#0e9f6e", "#d97706", "#db2777", "#0891b2", "#7c3aed", "#65a30d"];
  var NAMED = { pass: "#14804a", fail: "#d92d20" };

  // A series may give its colour's index ("color", to match a dashed interval bound with its
  // estimate) and be "dashed" (drawn thin and dashed, left out of the legend).
  function dataset(series, index, spec) {
    var at = series.color === undefined ? index : series.color;
    var color = NAMED[series.label] || COLORS[at % COLORS.length];
    var line = (series.type || spec.type) === "line";
    if (series.dashed) {
      return {
        label: series.label, data: series.data, type: "line", yAxisID: "y",
        borderColor: color + "99", backgroundColor: color, borderWidth: 1, borderDash: [4, 4],
        pointRadius: 0, tension: 0.25, spanGaps: true, order: 1, dashed: true,
      };
    }
    return {
      label: series.label || "(no group)",
      data: series.data,
      type: series.type || spec.type,
      yAxisID: series.axis || "y",
      borderColor: color,
      backgroundColor: line ? color : color + "cc",
      borderWidth: line ? 2 : 0,
      pointRadius: line ? 2 : 0,
      tension: 0.25,
      spanGaps: true,
      order: line ? 0 : 1,
    };
  }

  function options(spec, datasets) {
    var scales = {
      x: { stacked: !!spec.stacked, grid: { display: false } },
      // Counts tick in whole numbers; means, ratios and rates ("decimals") do not.
      y: { stacked: !!spec.stacked, beginAtZero: true, ticks: spec.decimals ? {} : { precision: 0 } },
    };
    if (spec.percent) {
      scales.y.ticks = { callback: function (v) { return v + "%"; } };
    }
    if (datasets.some(function (d) { return d.yAxisID === "rate"; })) {
      scales.rate = {
        position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
        ticks: { callback: function (v) { return v + "%"; } },
      };
    }
    return {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: {
          position: "bottom",
          labels: {
            boxWidth: 12,
            filter: function (item) { return !datasets[item.datasetIndex].dashed; },
          },
        },
      },
      scales: scales,
    };
  }

  function draw(root) {
    if (!window.Chart || !root.querySelectorAll) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) return;
      var spec = JSON.parse(canvas.getAttribute("data-chart"));
      var datasets = spec.series.map(function (s, i) { return dataset(s, i, spec); });
      new window.Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: datasets },
        options: options(spec, datasets),
      });
      canvas.setAttribute("data-drawn", "true");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:load", function (event) { draw(event.target); });
})();
