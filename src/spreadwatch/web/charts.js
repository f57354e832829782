// Plotly charts of the dashboard (plotly.js is served by the API: no CDN).
import { formatNumber, t } from "./i18n.js";

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
const FONT = { family: "system-ui, 'Noto Sans KR', NanumGothic, sans-serif", size: 12 };
export const LEVEL_COLOURS = ["#2e7d32", "#f9a825", "#ef6c00", "#c62828"];

function layout(extra = {}) {
  return {
    font: FONT, margin: { l: 50, r: 15, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)", legend: { orientation: "h", y: -0.18 }, ...extra,
  };
}

// Sequential light-to-dark for magnitudes (ColorBrewer YlOrRd, written out: plotly's named
// "YlOrRd" runs dark-to-light), diverging at Rt = 1 and clamped to [0, 2], categorical levels.
export const SEQUENTIAL = [[0, "#ffffcc"], [0.125, "#ffeda0"], [0.25, "#fed976"], [0.375, "#feb24c"],
  [0.5, "#fd8d3c"], [0.625, "#fc4e2a"], [0.75, "#e31a1c"], [0.875, "#bd0026"], [1, "#800026"]];
export const DIVERGING = [[0, "#2166ac"], [0.25, "#67a9cf"], [0.45, "#d1e5f0"], [0.5, "#f7f7f7"],
  [0.55, "#fddbc7"], [0.75, "#ef8a62"], [1, "#b2182b"]];
export const RT_MAX = 2;

function colourScale(metric, values) {
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
    return {
      colorscale: DIVERGING, zmin: 0, zmax: RT_MAX,
      colorbar: { thickness: 12, tickvals: [0, 0.5, 1, 1.5, 2], ticktext: ["0", "0.5", "1", "1.5", "≥ 2"] },
    };
  }
  const top = Math.max(1e-9, ...values);
  return { colorscale: SEQUENTIAL, zmin: 0, zmax: top, colorbar: { thickness: 12 } };
}

// What the map shows of a value (rt clamped to the scale; the hover text keeps the value).
function shown(metric, value) {
  return metric === "rt" ? Math.min(Math.max(value, 0), RT_MAX) : value;
}

export function describe(metric, value) {
  if (metric === "risk_level") return t(`level.${value}`);
  if (metric === "incidence") return `${formatNumber(value, value < 1 ? 2 : 1)} ${t("unit.per100k")}`;
  return formatNumber(value, 2);
}

// Zoom presets: the whole country and the metropolitan areas where si-gun-gu are small.
export const VIEWS = {
  korea: { center: { lat: 36.0, lon: 127.8 }, zoom: 5.7 },
  capital: { center: { lat: 37.55, lon: 126.95 }, zoom: 8.6 },
  busan: { center: { lat: 35.2, lon: 129.1 }, zoom: 8.8 },
  daegu: { center: { lat: 35.85, lon: 128.6 }, zoom: 9.0 },
  gwangju: { center: { lat: 35.15, lon: 126.85 }, zoom: 9.4 },
  daejeon: { center: { lat: 36.4, lon: 127.35 }, zoom: 9.0 },
};

// The choropleth of Korea: a grey base of every region, the metric's values on top, and the
// sido boundaries drawn over both.
export function drawMap(element, geojson, layer, names, sido, view = "korea") {
  const codes = geojson.features.map((f) => f.id);
  const known = codes.filter((c) => layer.values[c] !== null && layer.values[c] !== undefined);
  const unknown = codes.filter((c) => !known.includes(c));
  const base = {  // only the regions without a value: fewer shapes to draw
    type: "choroplethmap", geojson, featureidkey: "id", locations: unknown, z: unknown.map(() => 0),
    colorscale: [[0, "#e0e0e0"], [1, "#e0e0e0"]], showscale: false, hoverinfo: "text",
    text: unknown.map((c) => `${names[c]}<br>${t("no.data")}`), marker: { line: { width: 0.4, color: "#fff" } },
  };
  const values = known.map((c) => layer.values[c]);
  const data = {
    type: "choroplethmap", geojson, featureidkey: "id", locations: known,
    z: values.map((v) => shown(layer.metric, v)), hoverinfo: "text",
    text: known.map((c) => `${names[c]}<br>${t(`metric.${layer.metric}`)}: ${describe(layer.metric, layer.values[c])}`),
    marker: { line: { width: 0.4, color: "#fff" } }, ...colourScale(layer.metric, values),
  };
  const traces = [base, data];
  if (sido) {
    const ids = sido.features.map((f) => f.id);
    traces.push({
      type: "choroplethmap", geojson: sido, featureidkey: "id", locations: ids, z: ids.map(() => 0),
      colorscale: [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], showscale: false, hoverinfo: "skip",
      marker: { line: { width: 1.3, color: "#37474f" } },
    });
  }
  const mapLayout = layout({ margin: { l: 0, r: 0, t: 0, b: 0 }, map: { style: "white-bg", ...VIEWS[view] } });
  return Plotly.react(element, traces, mapLayout, { ...CONFIG, scrollZoom: true });
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
  const start = fan.forecast.length ? fan.forecast[0].date : null;
  const shapes = start ? [{ type: "line", xref: "x", yref: "paper", x0: start, x1: start, y0: 0, y1: 1, line: { dash: "dot", color: "#555" } }] : [];
  const annotations = start ? [{ x: start, xref: "x", y: 1, yref: "paper", text: t("forecast.starts"), showarrow: false, xanchor: "left", font: { size: 11, color: "#555" } }] : [];
  return Plotly.react(element, traces, layout({
    shapes, annotations, bargap: 0.2,
    xaxis: { title: { text: t("axis.date") } }, yaxis: { title: { text: t("axis.cases") }, rangemode: "tozero" },
  }), CONFIG);
}

export function drawRt(element, rt) {
  const x = rt.map((r) => r.date);
  const errors = {  // with one or two windows there is no band to draw: error bars instead
    type: "data", symmetric: false, color: "#b2182b",
    array: rt.map((r) => r["q0.975"] - r.mean), arrayminus: rt.map((r) => r.mean - r["q0.025"]),
  };
  const traces = rt.length < 3 ? [
    { x, y: rt.map((r) => r.mean), mode: "markers", name: `${t("mean")}, ${t("rt.band")}`, marker: { color: "#b2182b" }, error_y: errors },
  ] : [
    { x, y: rt.map((r) => r["q0.975"]), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x, y: rt.map((r) => r["q0.025"]), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(178,24,43,0.2)", name: t("rt.band") },
    { x, y: rt.map((r) => r.mean), mode: "lines+markers", name: t("mean"), line: { color: "#b2182b" } },
  ];
  const shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 1, y1: 1, line: { dash: "dot", color: "#555" } }];
  return Plotly.react(element, traces, layout({
    shapes, xaxis: { type: "date", title: { text: t("axis.date") } }, yaxis: { title: { text: t("axis.rt") }, rangemode: "tozero" },
  }), CONFIG);
}

export function drawBars(element, labels, values, xTitle, colour = "#2166ac") {
  const trace = { type: "bar", orientation: "h", y: labels.slice().reverse(), x: values.slice().reverse(), marker: { color: colour } };
  return Plotly.react(element, [trace], layout({
    margin: { l: 170, r: 15, t: 10, b: 45 }, xaxis: { title: { text: xTitle } },
  }), CONFIG);
}

export function drawLines(element, series, yTitle) {
  const traces = series.map((s) => ({ x: s.x, y: s.y, mode: "lines", name: s.name, line: { color: s.colour } }));
  return Plotly.react(element, traces, layout({
    xaxis: { title: { text: t("axis.date") } }, yaxis: { title: { text: yTitle }, rangemode: "tozero" },
  }), CONFIG);
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
  return Plotly.react(element, traces, layout({
    xaxis: { title: { text: t("axis.date") } }, yaxis: { title: { text: t("axis.infections") }, rangemode: "tozero" },
  }), CONFIG);
}
