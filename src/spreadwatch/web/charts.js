// Charts of the dashboard: the map as plain SVG, the rest with plotly.js (served by the API: no CDN).
import { h } from "./dom.js";
import { formatCompact, formatNumber, lang, t } from "./i18n.js";

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
const FONT = { family: "system-ui, 'Noto Sans KR', NanumGothic, sans-serif", size: 12 };
export const LEVEL_COLOURS = ["#2e7d32", "#f9a825", "#ef6c00", "#c62828"];

// Plotly's own texts and date ticks in Korean: month names as "2월", ticks as "2월 9일".
const KOREAN = {
  moduleType: "locale", name: "ko",
  dictionary: {},
  format: {
    days: ["일요일", "월요일", "화요일", "수요일", "목요일", "금요일", "토요일"],
    shortDays: ["일", "월", "화", "수", "목", "금", "토"],
    months: ["1월", "2월", "3월", "4월", "5월", "6월", "7월", "8월", "9월", "10월", "11월", "12월"],
    shortMonths: ["1월", "2월", "3월", "4월", "5월", "6월", "7월", "8월", "9월", "10월", "11월", "12월"],
    date: "%Y-%m-%d",
  },
};

function layout(extra = {}) {
  const korean = lang() === "ko";
  const dated = (axis) => (korean
    ? { tickformat: "%-m월 %-d일", hoverformat: "%Y년 %-m월 %-d일", ...axis } : axis);
  return {
    font: FONT, margin: { l: 55, r: 30, t: 10, b: 70 }, paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)", legend: { orientation: "h", y: -0.3 },
    modebar: { orientation: "v" },  // a column at the right edge: clear of labels in the plot
    ...extra,
    ...(extra.xaxis && extra.xaxis.dates ? { xaxis: dated(withoutFlag(extra.xaxis)) } : {}),
  };
}

function withoutFlag(axis) {
  const { dates, ...rest } = axis;
  return rest;
}

// Plotly (4.6 MB) is loaded on first use, so the map (plain SVG) paints without it.
let plotlyLoading = null;
export function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/app/vendor/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("plotly.js did not load"));
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

let koreanRegistered = false;

async function react(element, traces, chartLayout, config = CONFIG) {
  const Plotly = await plotly();
  if (!koreanRegistered) {
    Plotly.register(KOREAN);
    koreanRegistered = true;
  }
  return Plotly.react(element, traces, chartLayout, { ...config, locale: lang() === "ko" ? "ko" : "en" });
}

// Sequential light-to-dark for magnitudes (ColorBrewer YlOrRd), diverging at Rt = 1 and
// clamped to [0, 2], categorical levels.
export const SEQUENTIAL = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"];
export const DIVERGING = ["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"];
export const RT_MAX = 2;
const NO_DATA = "#e0e0e0";

function mix(stops, share) {  // a colour along evenly spaced stops, share in [0, 1]
  const x = Math.min(Math.max(share, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const rgb = (hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  const [a, b] = [rgb(stops[i]), rgb(stops[i + 1])];
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
}

// Korea's PM2.5 grades (good <= 15, moderate <= 35, bad <= 75, very bad) in the colours
// Korea's air-quality services use: blue, green, orange, red.
export const GRADE_COLOURS = ["#1e88e5", "#43a047", "#fb8c00", "#e53935"];
const GRADE_BOUNDS = [15, 35, 75];
export const GRADED = new Set(["pm25", "breathed"]);
export function gradeOf(value) {
  const i = GRADE_BOUNDS.findIndex((bound) => value <= bound);
  return i < 0 ? GRADE_BOUNDS.length : i;
}

// The fill of a value and the legend of a metric (top: the largest value shown).
export function colourOf(metric, value, top) {
  if (value === null || value === undefined || Number.isNaN(value)) return NO_DATA;
  if (metric === "risk_level") return LEVEL_COLOURS[value - 1] || NO_DATA;
  if (GRADED.has(metric)) return GRADE_COLOURS[gradeOf(value)];
  if (metric === "rt") return mix(DIVERGING, value / RT_MAX);
  return mix(SEQUENTIAL, top > 0 ? value / top : 0);
}

function legend(metric, top) {
  if (GRADED.has(metric)) {
    return h("div", { class: "legend", id: "map-legend" }, GRADE_COLOURS.map((colour, g) =>
      h("span", { class: "key" }, h("i", { style: `background:${colour}` }), `${t(`grade.${g}`)} ${t(`grade.range.${g}`)}`)));
  }
  if (metric === "risk_level") {
    return h("div", { class: "legend", id: "map-legend" }, [1, 2, 3, 4].map((l) =>
      h("span", { class: "key" }, h("i", { style: `background:${LEVEL_COLOURS[l - 1]}` }), t(`level.${l}`))));
  }
  const stops = metric === "rt" ? DIVERGING : SEQUENTIAL;
  const large = metric === "people" || metric === "exposure";
  const tick = (v) => (large ? formatCompact(v) : formatNumber(v, top < 4 ? 2 : 1));
  const ticks = metric === "rt" ? ["0", "0.5", "1", "1.5", "≥ 2"] : [0, top / 4, top / 2, (3 * top) / 4, top].map(tick);
  return h("div", { class: "legend", id: "map-legend" },
    h("div", { class: "scale" },
      h("div", { class: "ramp", style: `background:linear-gradient(to right, ${stops.join(",")})` }),
      h("div", { class: "ticks" }, ticks.map((x) => h("span", {}, x)))),
    h("span", { class: "no-data" }, h("i", { style: `background:${NO_DATA}` }), t("no.data")));
}

export function describe(metric, value) {
  if (metric === "risk_level") return t(`level.${value}`);
  if (GRADED.has(metric)) return `${formatNumber(value, 0)} ㎍/㎥ · ${t(`grade.${gradeOf(value)}`)}`;
  if (metric === "people") return formatNumber(value, 0);
  if (metric === "exposure") return formatCompact(value);
  if (metric === "incidence") return `${formatNumber(value, value < 1 ? 2 : 1)} ${t("unit.per100k")}`;
  return formatNumber(value, 2);
}

// Zoom presets (lon/lat bounds): the country and the metropolitan areas where si-gun-gu are small.
export const VIEWS = {
  korea: [124.5, 33.0, 131.0, 38.7],
  capital: [126.45, 37.15, 127.45, 37.85],
  busan: [128.75, 34.95, 129.45, 35.7],
  daegu: [128.3, 35.6, 128.85, 36.1],
  gwangju: [126.6, 35.0, 127.05, 35.3],
  daejeon: [127.1, 36.2, 127.6, 36.75],
};
const ASPECT = Math.cos((36 * Math.PI) / 180);
export const project = (lon, lat) => [(lon - 124.5) * 100 * ASPECT, (38.7 - lat) * 100];

function viewBox([lon0, lat0, lon1, lat1]) {
  const [x0, y1] = project(lon0, lat0);
  const [x1, y0] = project(lon1, lat1);
  return `${x0} ${y0} ${x1 - x0} ${y1 - y0}`;
}

// The map: every si-gun-gu of the server's SVG filled by the metric, sido boundaries over them,
// a native tooltip per region and a legend. ``svgText`` is GET /api/v1/regions/map.svg.
export function drawMap(element, svgText, layer, names, view = "korea") {
  element.innerHTML = svgText;
  const svg = element.querySelector("svg");
  svg.setAttribute("viewBox", viewBox(VIEWS[view] || VIEWS.korea));
  svg.setAttribute("role", "img");
  const top = recolour(svg, layer, names);
  element.after(legend(layer.metric, top));
  return svg;
}

// Fill every region of a drawn map by a layer's values (its tooltip and data-value too);
// returns the largest value. The fine-dust animation calls it for each hour.
export function recolour(svg, layer, names, top = null) {
  const values = Object.values(layer.values).filter((v) => v !== null && v !== undefined);
  const largest = top ?? Math.max(0, ...values);
  for (const path of svg.querySelectorAll("path[data-code]")) {
    const code = path.dataset.code;
    const value = layer.values[code];
    const known = value !== null && value !== undefined;
    path.setAttribute("fill", colourOf(layer.metric, value, largest));
    if (known) path.dataset.value = value; else delete path.dataset.value;
    let title = path.querySelector("title");
    if (!title) {
      title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      path.append(title);
    }
    title.textContent = `${names[code] || code}\n${t(`metric.${layer.metric}`)}: ${known ? describe(layer.metric, value) : t("no.data")}`;
  }
  return largest;
}

// Observed cases, then the forecast's median with its 50% and 90% bands.
// scale: "cases", "per100k" (divided by population / 100,000) or "log" (log axis).
export function drawFan(element, fan, scale = "cases", population = null) {
  const factor = scale === "per100k" && population ? 1e5 / population : 1;
  const v = (x) => (x === null || x === undefined ? x : x * factor);
  const dates = fan.forecast.map((p) => p.date);
  const band = (lo, hi, name, colour) => [
    { x: dates, y: fan.forecast.map((p) => v(p[hi])), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x: dates, y: fan.forecast.map((p) => v(p[lo])), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: colour, name },
  ];
  const traces = [
    ...band("q0.05", "q0.95", t("band90"), "rgba(33,102,172,0.18)"),
    ...band("q0.25", "q0.75", t("band50"), "rgba(33,102,172,0.35)"),
    { x: dates, y: fan.forecast.map((p) => v(p["q0.5"])), mode: "lines", name: t("median"), line: { color: "#2166ac", width: 2 } },
    { x: fan.observed.map((p) => p.date), y: fan.observed.map((p) => v(p.confirmed)), type: "bar", name: t("observed"), marker: { color: "#9e9e9e" } },
  ];
  const start = fan.forecast.length ? fan.forecast[0].date : null;
  const shapes = start ? [{ type: "line", xref: "x", yref: "paper", x0: start, x1: start, y0: 0, y1: 1, line: { dash: "dot", color: "#555" } }] : [];
  const annotations = start ? [{ x: start, xref: "x", y: 1, yref: "paper", text: t("forecast.starts"), showarrow: false, xanchor: "right", yanchor: "top", font: { size: 11, color: "#555" } }] : [];
  const yaxis = scale === "log"
    ? { title: { text: t("axis.cases") }, type: "log" }
    : { title: { text: t(factor === 1 ? "axis.cases" : "axis.per100k") }, rangemode: "tozero" };
  return react(element, traces, layout({
    shapes, annotations, bargap: 0.2, xaxis: { dates: true, title: { text: t("axis.date") } }, yaxis,
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
  return react(element, traces, layout({
    shapes, xaxis: { dates: true, type: "date", title: { text: t("axis.date") } }, yaxis: { title: { text: t("axis.rt") }, rangemode: "tozero" },
  }), CONFIG);
}

export function drawBars(element, labels, values, xTitle, colour = "#2166ac") {
  const trace = { type: "bar", orientation: "h", y: labels.slice().reverse(), x: values.slice().reverse(), marker: { color: colour } };
  return react(element, [trace], layout({
    margin: { l: 170, r: 15, t: 10, b: 45 }, xaxis: { title: { text: xTitle } },
  }), CONFIG);
}

// An hour (ISO, UTC) as Korea's wall-clock time, "YYYY-MM-DD HH:MM" (what plotly plots).
export function kst(ts) {
  return new Date(Date.parse(ts) + 9 * 3600e3).toISOString().slice(0, 16).replace("T", " ");
}

// A region's fine dust: the kriged hours with their +-1 sd band, then the next 24 hours'
// median with its 50% and 90% bands, in Korean time.
export function drawAirFan(element, region) {
  const x = region.observed.map((p) => kst(p.ts));
  const f = region.forecast.map((p) => kst(p.ts));
  const band = (xs, lo, hi, name, colour) => [
    { x: xs, y: hi, mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x: xs, y: lo, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: colour, name },
  ];
  const traces = [
    ...band(x, region.observed.map((p) => Math.max(p.pm25 - p.pm25_sd, 0)), region.observed.map((p) => p.pm25 + p.pm25_sd), t("air.sd"), "rgba(97,97,97,0.2)"),
    { x, y: region.observed.map((p) => p.pm25), mode: "lines", name: t("air.kriged"), line: { color: "#424242", width: 2 } },
    ...band(f, region.forecast.map((p) => p["q0.05"]), region.forecast.map((p) => p["q0.95"]), t("band90"), "rgba(33,102,172,0.18)"),
    ...band(f, region.forecast.map((p) => p["q0.25"]), region.forecast.map((p) => p["q0.75"]), t("band50"), "rgba(33,102,172,0.35)"),
    { x: f, y: region.forecast.map((p) => p.median), mode: "lines", name: t("median"), line: { color: "#2166ac", width: 2 } },
  ];
  const shapes = GRADE_BOUNDS.map((y, g) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dot", color: GRADE_COLOURS[g + 1], width: 1 } }));
  return react(element, traces, layout({
    shapes,
    xaxis: { type: "date", tickformat: lang() === "ko" ? "%-m월 %-d일 %H시" : "%b %-d, %H:00", title: { text: t("axis.hour") } },
    yaxis: { title: { text: t("air.axis") }, rangemode: "tozero" },
  }), CONFIG);
}

export function drawLines(element, series, yTitle) {
  const traces = series.map((s) => ({ x: s.x, y: s.y, mode: "lines", name: s.name, line: { color: s.colour } }));
  return react(element, traces, layout({
    xaxis: { dates: true, title: { text: t("axis.date") } }, yaxis: { title: { text: yTitle }, rangemode: "tozero" },
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
  return react(element, traces, layout({
    xaxis: { dates: true, title: { text: t("axis.date") } }, yaxis: { title: { text: t("axis.infections") }, rangemode: "tozero" },
  }), CONFIG);
}
