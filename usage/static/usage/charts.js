/* Charts drawn from the usage tables (progressive enhancement: the tables hold the
   numbers and stay readable without JavaScript).

   A table with data-charts='[{"title": ..., "columns": [keys], "type": "bar"|"line",
   "stacked": bool, "horizontal": bool, "unit": "ms"}]' gets one chart per entry,
   inserted above it: one row of the table is one point (its label: the row header's
   data-label or text), one column (a header with that data-key) is one series, its
   cells' data-value the numbers (empty: no value). */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  var PALETTE = ["#417690", "#c0392b", "#e67e22", "#27ae60", "#8e44ad", "#79aec8"];

  function seriesOf(table, rows, key) {
    var headers = table.tHead.rows[0].cells;
    for (var index = 0; index < headers.length; index++) {
      if (headers[index].dataset.key === key) {
        return {
          label: headers[index].dataset.title || headers[index].textContent.trim(),
          data: rows.map(function (row) {
            var value = row.cells[index].dataset.value;
            return value === undefined || value === "" ? null : Number(value);
          }),
        };
      }
    }
    throw new Error("usage chart: no column " + key);
  }

  function draw(table, spec, container) {
    var rows = Array.prototype.slice.call(table.tBodies[0].rows).filter(function (row) {
      return !row.classList.contains("usage-empty");
    });
    if (!rows.length) {
      return;
    }
    var box = document.createElement("div");
    box.className = "usage-chart";
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", spec.title + " (the numbers are in the table below)");
    box.appendChild(canvas);
    container.appendChild(box);
    var labels = rows.map(function (row) {
      var header = row.cells[0];
      return header.dataset.label || header.textContent.trim();
    });
    var datasets = spec.columns.map(function (key, index) {
      var series = seriesOf(table, rows, key);
      var color = PALETTE[index % PALETTE.length];
      return {
        label: series.label,
        data: series.data,
        backgroundColor: color,
        borderColor: color,
        spanGaps: true,
      };
    });
    var unit = spec.unit ? " " + spec.unit : "";
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: !!spec.stacked },
          y: { stacked: !!spec.stacked, beginAtZero: true },
        },
        plugins: {
          title: { display: true, text: spec.title },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + item.formattedValue + unit;
              },
            },
          },
        },
      },
    });
  }

  function enhance() {
    var tables = document.querySelectorAll("table[data-charts]");
    Array.prototype.forEach.call(tables, function (table) {
      var container = document.createElement("div");
      container.className = "usage-charts";
      // Above the table's scrolling box, if it has one: the charts stay whole.
      var anchor = table.closest(".usage-scroll") || table;
      anchor.parentNode.insertBefore(container, anchor);
      JSON.parse(table.dataset.charts).forEach(function (spec) {
        draw(table, spec, container);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
