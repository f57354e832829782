// Plotly charts of the dashboard (plotly.js is served by the API: no CDN).
import { t } from "./i18n.js";

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
const FONT = { family: "system-ui, 'Noto Sans KR', NanumGothic, sans-serif", size: 12 };
export const LEVEL_COLOURS = ["#2e7d32", "#f9a825", "#ef6c00", "#c62828"];

function layout(extra = {}) {
  return {
    font: FONT, margin: { l: 50, r: 15, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)", legend: { orientation: "h", y: -0.18 }, ...extra,
  };
}

function colourScale(metric) {
  if (metric === "risk_level") {
    return {
      colorscale: [
        [0, LEVEL_COLOURS[0]], [0.25, LEVEL_COLOURS[0]], [0.25, LEVEL_COLOURS[1]], [0.5, LEVEL_COLOURS[1]],
        [0.5, LEVEL_COLOURS[2]], [0.75, LEVEL_COLOURS[2]], [0.75, LEVEL_COLOURS[3]], [1, LEVEL_COLOURS[3]],
      ],
      zmin: 0.5, zmax: 4.5,
      colorbar: { tickvals: [1, 2, 3, 4], ticktext: [1, 2, 3, 4].map((l) => t(`level.${l}`)), thickness: 12 },
    };
  }
  if (metric === "rt") {
    return { colorscale: "RdBu", reversescale: true, zmid: 1, colorbar: { thickness: 12 } };
  }
  return { colorscale: "YlOrRd", zmin: 0, colorbar: { thickness: 12 } };
}

// The choropleth of Korea: a grey base of every region, the metric's values on top.
export function drawMap(element, geojson, layer, names) {
  const codes = geojson.features.map((f) => f.id);
  const known = codes.filter((c) => layer.values[c] !== null && layer.values[c] !== undefined);
  const base = {
    type: "choroplethmap", geojson, featureidkey: "id", locations: codes, z: codes.map(() => 0),
    colorscale: [[0, "#e0e0e0"], [1, "#e0e0e0"]], showscale: false, hoverinfo: "text",
    text: codes.map((c) => `${names[c]}<br>${t("no.data")}`), marker: { line: { width: 0.4, color: "#fff" } },
  };
  const data = {
    type: "choroplethmap", geojson, featureidkey: "id", locations: known,
    z: known.map((c) => layer.values[c]), hoverinfo: "text",
    text: known.map((c) => `${names[c]}<br>${t(`metric.${layer.metric}`)}: ${Number(layer.values[c]).toFixed(2)}`),
    marker: { line: { width: 0.4, color: "#fff" } }, ...colourScale(layer.metric),
  };
  const mapLayout = layout({
    margin: { l: 0, r: 0, t: 0, b: 0 },
    map: { style: "white-bg", center: { lat: 36.0, lon: 127.8 }, zoom: 5.7 },
  });
  return Plotly.react(element, [base, data], mapLayout, { ...CONFIG, scrollZoom: true });
}

// Observed cases, then the forecast's median with its 50% and 90% bands.
export function drawFan(element, fan) {
  const dates = fan.forecast.map((p) => p.date);
  const band = (lo, hi, name, colour) => [
    { x: dates, y: fan.forecast.map((p) => p[hi]), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x: dates, y: fan.forecast.map((p) => p[lo]), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: colour, name },
  ];
  const traces = [
    ...band("q0.05", "q0.95", t("band90"), "rgba(33,102,172,0.18)"),
    ...band("q0.25", "q0.75", t("band50"), "rgba(33,102,172,0.35)"),
    { x: dates, y: fan.forecast.map((p) => p["q0.5"]), mode: "lines", name: t("median"), line: { color: "#2166ac", width: 2 } },
    { x: fan.observed.map((p) => p.date), y: fan.observed.map((p) => p.confirmed), type: "bar", name: t("observed"), marker: { color: "#9e9e9e" } },
  ];
  return Plotly.react(element, traces, layout({ yaxis: { rangemode: "tozero" }, bargap: 0.2 }), CONFIG);
}

export function drawRt(element, rt) {
  const x = rt.map((r) => r.date);
  const traces = [
    { x, y: rt.map((r) => r["q0.975"]), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x, y: rt.map((r) => r["q0.025"]), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(178,24,43,0.2)", name: t("rt.band") },
    { x, y: rt.map((r) => r.mean), mode: "lines+markers", name: t("mean"), line: { color: "#b2182b" } },
  ];
  const shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 1, y1: 1, line: { dash: "dot", color: "#555" } }];
  return Plotly.react(element, traces, layout({ shapes, yaxis: { rangemode: "tozero" } }), CONFIG);
}

export function drawBars(element, labels, values, colour = "#2166ac") {
  const trace = { type: "bar", orientation: "h", y: labels.slice().reverse(), x: values.slice().reverse(), marker: { color: colour } };
  return Plotly.react(element, [trace], layout({ margin: { l: 170, r: 15, t: 10, b: 30 } }), CONFIG);
}

export function drawLines(element, series, yTitle) {
  const traces = series.map((s) => ({ x: s.x, y: s.y, mode: "lines", name: s.name, line: { color: s.colour } }));
  return Plotly.react(element, traces, layout({ yaxis: { title: { text: yTitle }, rangemode: "tozero" } }), CONFIG);
}

// Plotly renders a subset of HTML in names and hover text: show user-typed text as text.
export function plain(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const PALETTE = ["#424242", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];

export function drawScenarioCurves(element, curves) {
  const names = [...new Set(curves.map((c) => c.scenario))];
  const traces = [];
  names.forEach((name, i) => {
    const rows = curves.filter((c) => c.scenario === name);
    const x = rows.map((r) => r.date);
    const colour = PALETTE[i % PALETTE.length];
    traces.push({ x, y: rows.map((r) => r["q0.95"]), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip", legendgroup: name });
    traces.push({ x, y: rows.map((r) => r["q0.05"]), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: colour + "33", showlegend: false, hoverinfo: "skip", legendgroup: name });
    traces.push({ x, y: rows.map((r) => r["q0.5"]), mode: "lines", name: plain(name), line: { color: colour, width: 2 }, legendgroup: name });
  });
  return Plotly.react(element, traces, layout({ yaxis: { rangemode: "tozero" } }), CONFIG);
}
