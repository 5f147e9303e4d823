/* The SLA dashboard's chart (templates/tickets/agent/dashboard.html).
 *
 * The numbers come from the page's <script type="application/json" id="sla-chart-data">
 * (Django's json_script: data, never run), the drawing from the vendored Chart.js
 * (static/vendor/chartjs/). No inline code and no style attributes in the markup, so the
 * page's CSP needs no 'unsafe-inline'; sizes are set here through the CSSOM.
 *
 * The table under the chart holds the same numbers: the chart is an extra for sighted
 * users (its canvas has role="img" and a label pointing to the table).
 */
(function () {
  "use strict";

  // The badge colours' strong tones (static/tickets/agent.css): each has at least 3:1
  // contrast with the white background, and the segments are separated by white lines.
  var COLOURS = {
    on_track: "#1a7f37",
    at_risk: "#bc4c00",
    paused: "#0969da",
    breached: "#cf222e",
    none: "#6e7781"
  };
  var BAR_HEIGHT = 34;

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function readData() {
    var node = document.getElementById("sla-chart-data");
    if (!node) { return null; }
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      return null;
    }
  }

  ready(function () {
    var canvas = document.getElementById("sla-chart");
    var data = readData();
    if (!canvas || !data || typeof window.Chart !== "function") { return; }
    var box = canvas.closest("[data-chart-box]");
    var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var textColour = window.getComputedStyle(document.body).color || "#1b1f24";
    var font = window.getComputedStyle(document.body).fontFamily;

    if (box) {
      // One bar per team plus room for the legend and the axis.
      box.style.height = String(Math.max(180, 110 + data.labels.length * BAR_HEIGHT)) + "px";
    }
    window.Chart.defaults.color = textColour;
    if (font) { window.Chart.defaults.font.family = font; }

    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (series) {
          return {
            label: series.label,
            data: series.data,
            backgroundColor: COLOURS[series.key] || "#57606a",
            borderColor: "#ffffff",
            borderWidth: 1,
            maxBarThickness: 28
          };
        })
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: reduceMotion ? false : { duration: 300 },
        plugins: {
          legend: { position: "top", labels: { boxWidth: 14, boxHeight: 14 } },
          tooltip: { mode: "index", intersect: false }
        },
        scales: {
          x: {
            stacked: true,
            beginAtZero: true,
            ticks: { precision: 0 },
            title: { display: true, text: data.axis || "" }
          },
          y: { stacked: true }
        }
      }
    });
    canvas.setAttribute("data-chart-ready", "true");
  });
}());
