// The dashboard's views. Each renders into the <main> element it is given.
import { all, ApiError, authHeaders, get, post } from "./api.js";
import { describe, drawBars, drawFan, drawLines, drawMap, drawRt, drawScenarioCurves, LEVEL_COLOURS, project, VIEWS } from "./charts.js";
import { h, table } from "./dom.js";
import { explainLevel, formatNumber, lang, t } from "./i18n.js";

const state = { metric: "risk_level", date: null, view: "korea", regions: null, svg: null };

// The map's metric, date and zoom live in the URL (#/map?metric=rt&date=...&view=daegu), so a
// link or a reload shows the same map.
export function readMapParams(params) {
  if (["risk_level", "incidence", "rt"].includes(params.get("metric"))) state.metric = params.get("metric");
  if (/^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "")) state.date = params.get("date");
  if (VIEWS[params.get("view")]) state.view = params.get("view");
}

function mapHash() {
  const params = new URLSearchParams({ metric: state.metric, view: state.view, lang: lang() });
  if (state.date) params.set("date", state.date);
  return `#/map?${params}`;
}

function showMap() {
  const target = mapHash();
  if (location.hash !== target) location.hash = target;  // the hashchange draws it
}

async function regions() {
  if (!state.regions) {
    const page = await get("/api/v1/regions?limit=1000");
    state.regions = Object.fromEntries(page.items.map((r) => [r.code, r]));
  }
  return state.regions;
}

export async function regionNames() {
  const byCode = await regions();
  const key = lang() === "ko" ? "name_ko" : "name_en";
  const sido = lang() === "ko" ? "sido_name_ko" : "sido_name_en";
  return Object.fromEntries(Object.values(byCode).map((r) => [r.code, `${r[key]} (${r[sido]})`]));
}

export async function mapSvg() {
  if (!state.svg) state.svg = await (await fetch("/api/v1/regions/map.svg")).text();
  return state.svg;
}

// The metric that breaks ties in the ranking of each metric.
const TIE_BREAK = { risk_level: "incidence", incidence: "rt", rt: "incidence" };

async function tieBreaker(metric, date) {
  try {
    const latest = await get(`/api/v1/map/${TIE_BREAK[metric]}`);
    if (latest.date === date) return latest.values;
    if (!latest.dates.includes(date)) return {};
    return (await get(`/api/v1/map/${TIE_BREAK[metric]}?date=${date}`)).values;
  } catch { return {}; }
}

// Regions ranked by the metric, ties by the next metric; regions at zero incidence are not
// "highest" of anything.
function ranked(layer, next) {
  const key = (code) => next[code] ?? -Infinity;
  return Object.entries(layer.values)
    .filter(([, v]) => v !== null && !(layer.metric === "incidence" && v <= 0))
    .sort((a, b) => b[1] - a[1] || key(b[0]) - key(a[0]));
}

export function notice(message) { return h("p", { class: "notice" }, message); }

// A link that downloads rows the page already holds as CSV (tables without an endpoint).
function rowsLink(rows, name) {
  const columns = Object.keys(rows[0] || {});
  const cell = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const text = [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n");
  const url = URL.createObjectURL(new Blob(["\ufeff" + text + "\n"], { type: "text/csv" }));
  return h("a", { href: url, class: "csv", download: name }, `${t("csv")} (${name})`);
}

// A link that downloads a table endpoint as CSV (the token, if any, goes as a header: fetch).
export function csvLink(path, name = "spreadwatch.csv") {
  const link = h("a", { href: path, class: "csv", download: name }, t("csv"));
  link.onclick = async (event) => {
    event.preventDefault();
    const response = await fetch(path, { headers: authHeaders() });
    if (!response.ok) {  // say why, rather than save the error as a .csv
      const problem = await response.json().catch(() => ({}));
      link.replaceWith(failure(new ApiError(response.status, problem)));
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    h("a", { href: url, download: name }).click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);  // after the download has started
  };
  return link;
}

export function failure(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    return notice(t("needs.analyst"));
  }
  return notice(error.message || String(error));
}

// -- map ------------------------------------------------------------------------------------

export async function mapView(main) {
  const mapBox = h("div", { id: "map", class: "map", "aria-label": t("nav.map") });
  const slider = h("input", { id: "date-slider", type: "range", min: 0, max: 0, step: 1, value: 0 });
  const dateLabel = h("output", { id: "date-label", for: "date-slider" });
  const side = h("aside", { class: "side" });
  const segmented = (id, keys, current, label, choose) => h("div", { class: "segmented", role: "group", id },
    keys.map((k) => h("button", { type: "button", dataset: { key: k }, class: k === current ? "on" : "", onclick: () => choose(k) }, label(k))));
  const metrics = segmented("metric", ["risk_level", "incidence", "rt"], state.metric, (m) => t(`metric.${m}`),
    (m) => { state.metric = m; state.date = null; showMap(); });
  const views = segmented("zoom", Object.keys(VIEWS), state.view, (v) => t(`view.${v}`),
    (v) => { state.view = v; showMap(); });
  main.replaceChildren(h("section", { class: "map-view" },
    h("div", { class: "controls" }, h("span", { class: "label" }, t("metric")), metrics,
      h("label", { class: "label", for: "date-slider" }, t("date")), slider, dateLabel),
    h("div", { class: "controls" }, h("span", { class: "label" }, t("zoom")), views),
    h("div", { class: "map-grid" }, h("div", { class: "map-column" }, mapBox), side)));
  const layerRequest = get(`/api/v1/map/${state.metric}${state.date ? `?date=${state.date}` : ""}`);
  layerRequest.catch(() => {});  // awaited below; the three requests run together
  const [svgText, names] = await Promise.all([mapSvg(), regionNames()]);
  let layer;
  try {
    layer = await layerRequest;
  } catch (error) {
    mapBox.replaceChildren(failure(error));
    return;
  }
  slider.max = layer.dates.length - 1;
  slider.value = layer.dates.indexOf(layer.date);
  dateLabel.textContent = layer.date;
  slider.oninput = () => { dateLabel.textContent = layer.dates[slider.value]; };
  slider.onchange = () => { state.date = layer.dates[slider.value]; showMap(); };
  drawMap(mapBox, svgText, layer, names, state.view);
  mapBox.dataset.metric = layer.metric;
  mapBox.dataset.date = layer.date;
  mapBox.onclick = (event) => {
    const path = event.target.closest("path[data-code]");
    if (path) location.hash = `#/region/${path.dataset.code}`;
  };
  const top = ranked(layer, await tieBreaker(layer.metric, layer.date)).slice(0, 12);
  side.replaceChildren(
    h("p", { class: "hint" }, t("map.hint")),
    h("h3", {}, t("map.top")),
    top.length ? table([t("region"), t(`metric.${layer.metric}`)],
      top.map(([code, value]) => [names[code], describe(layer.metric, value)]),
      (i) => { location.hash = `#/region/${top[i][0]}`; }) : notice(t("map.none")),
    h("p", { class: "unit" }, t(`unit.${layer.metric}`)),
    csvLink(`/api/v1/map/${layer.metric}?date=${layer.date}&format=csv`));
}

// Screen position of a region's label point on the map (for keyboard users and tests).
export function regionPixel(code) {
  const svg = document.querySelector("#map svg");
  const region = state.regions && state.regions[code];
  if (!svg || !region) return null;
  const [x, y] = project(region.label_lon ?? region.centroid_lon, region.label_lat ?? region.centroid_lat);
  const point = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
  return { x: point.x, y: point.y };
}

// Zoom the map onto one region (its bounding box, padded).
export function focusRegion(code) {
  const path = document.querySelector(`#map path[data-code="${code}"]`);
  if (!path) return false;
  const box = path.getBBox();
  const pad = Math.max(box.width, box.height) * 0.6;
  path.ownerSVGElement.setAttribute("viewBox", `${box.x - pad} ${box.y - pad} ${box.width + 2 * pad} ${box.height + 2 * pad}`);
  return true;
}

// -- region ---------------------------------------------------------------------------------

export async function regionView(main, code, params = new URLSearchParams()) {
  const byCode = await regions();
  const region = byCode[code];
  if (!region) { main.replaceChildren(notice(`${code}: ?`)); return; }
  const name = lang() === "ko" ? `${region.name_ko} · ${region.sido_name_ko}` : `${region.name_en}, ${region.sido_name_en}`;
  const badge = h("div", { id: "level", class: "level" });
  const explanation = h("p", { class: "explain" });
  const modelSelect = h("select", { id: "model" });
  const scaleSelect = h("select", { id: "fan-scale" }, ["cases", "per100k", "log"].map((k) =>
    h("option", { value: k, selected: k === (params.get("scale") || "cases") }, t(`scale.${k}`))));
  const fan = h("div", { id: "fan", class: "chart" });
  const rtBox = h("div", { id: "rt-chart", class: "chart" });
  main.replaceChildren(h("section", { class: "region-view", dataset: { code } },
    h("a", { href: "#/map", class: "back" }, t("back")),
    h("h2", { id: "region-name" }, name),
    h("p", { class: "meta" }, `${t("population")} ${formatNumber(region.population)} · ${code}`),
    badge, explanation,
    h("div", { class: "cards" },
      h("article", { class: "card" }, h("h3", {}, t("region.forecast")),
        h("label", {}, `${t("model")} `, modelSelect), " ", h("label", {}, `${t("scale")} `, scaleSelect), fan,
        csvLink(`/api/v1/forecasts?location=${code}&format=csv`, `forecasts-${code}.csv`)),
      h("article", { class: "card" }, h("h3", {}, t("region.rt")), rtBox))));
  const levels = get(`/api/v1/risk-levels?region=${code}&limit=1000`).catch(() => null);
  const drawForecast = async (model) => {
    try {
      const chart = await get(`/api/v1/forecasts/${code}/fan${model ? `?model=${encodeURIComponent(model)}` : ""}`);
      if (!modelSelect.options.length) {
        for (const m of chart.models) modelSelect.append(h("option", { value: m, selected: m === chart.model }, t(`model.${m}`)));
      }
      await drawFan(fan, chart, scaleSelect.value, region.population);
      fan.dataset.ready = "1";
    } catch (error) { fan.replaceChildren(failure(error)); }
  };
  const redraw = () => {  // the URL keeps the model and scale (no redraw of the whole page)
    const query = new URLSearchParams({ model: modelSelect.value, scale: scaleSelect.value, lang: lang() });
    history.replaceState(null, "", `#/region/${code}?${query}`);
    drawForecast(modelSelect.value);
  };
  modelSelect.onchange = redraw;
  scaleSelect.onchange = redraw;
  const rt = all(`/api/v1/rt?region=${code}`).catch(() => []);
  await drawForecast(params.get("model"));
  const rtRows = (await rt).filter((r) => r.mean !== null && r.reliable !== false);
  if (rtRows.length) { await drawRt(rtBox, rtRows); rtBox.dataset.ready = "1"; }
  else { rtBox.replaceChildren(notice(t("rt.none"))); rtBox.dataset.ready = "empty"; }
  rtBox.after(csvLink(`/api/v1/rt?region=${code}&format=csv`, `rt-${code}.csv`));
  const levelPage = await levels;
  const latest = levelPage && levelPage.items[levelPage.items.length - 1];
  if (latest) {
    badge.textContent = `${t("region.level")}: ${t(`level.${latest.level}`)} (${latest.date})`;
    badge.style.background = LEVEL_COLOURS[latest.level - 1];
    explanation.textContent = explainLevel(latest);
  }
}

// -- mobility -------------------------------------------------------------------------------

export async function flowsView(main) {
  const names = await regionNames();
  const select = h("select", { id: "flow-date" });
  const chart = h("div", { id: "flows-chart", class: "chart tall" });
  const list = h("div", {});
  const download = h("p", {});
  main.replaceChildren(h("section", {}, h("h2", {}, t("flows.title")), download,
    h("label", {}, `${t("date")} `, select), h("div", { class: "cards" }, h("article", { class: "card" }, chart), h("article", { class: "card" }, list))));
  let dates;
  try { dates = await get("/api/v1/od-flows/dates?suppressed=false"); } catch (error) { chart.replaceChildren(failure(error)); return; }
  if (!dates.length) { chart.replaceChildren(notice(t("empty.suppressed"))); return; }
  for (const d of dates) select.append(h("option", { value: d }, d));
  select.value = dates[dates.length - 1];
  const draw = async () => {
    const page = await get(`/api/v1/od-flows?date=${select.value}&suppressed=false&limit=20`);
    if (!page.items.length) { chart.replaceChildren(notice(t("empty.suppressed"))); list.replaceChildren(); return; }
    const labels = page.items.map((f) => `${names[f.origin] || f.origin} → ${names[f.dest] || f.dest}`);
    download.replaceChildren(csvLink(`/api/v1/od-flows?date=${select.value}&suppressed=false&format=csv`, `od-flows-${select.value}.csv`));
    await drawBars(chart, labels, page.items.map((f) => f.trips), t("trips"));
    list.replaceChildren(table([t("origin"), t("destination"), t("trips")],
      page.items.map((f) => [names[f.origin] || f.origin, names[f.dest] || f.dest, formatNumber(f.trips)])));
  };
  select.onchange = draw;
  await draw();
}

// -- importations ---------------------------------------------------------------------------

export async function importationsView(main) {
  const chart = h("div", { id: "imports-chart", class: "chart" });
  const list = h("div", {});
  main.replaceChildren(h("section", {}, h("h2", {}, t("imports.title")),
    h("div", { class: "cards" }, h("article", { class: "card" }, chart), h("article", { class: "card" }, list))));
  let rows;
  try { rows = await get("/api/v1/importations/by-country"); } catch (error) { chart.replaceChildren(failure(error)); return; }
  if (!rows.length) { chart.replaceChildren(notice(t("empty.suppressed"))); return; }
  const top = rows.slice(0, 15);
  await drawBars(chart, top.map((r) => r.country), top.map((r) => r.arrivals), t("arrivals"), "#7570b3");
  list.replaceChildren(table([t("country"), t("arrivals"), t("regions")],
    rows.map((r) => [r.country, formatNumber(r.arrivals), r.regions])),
    csvLink("/api/v1/importations?format=csv", "importations.csv"));
}

// -- households -----------------------------------------------------------------------------

export async function householdsView(main) {
  const names = await regionNames();
  const fever = h("div", { id: "fever-chart", class: "chart" });
  const stay = h("div", { id: "stay-chart", class: "chart" });
  const list = h("div", {});
  main.replaceChildren(h("section", {}, h("h2", {}, t("households.title")),
    h("div", { class: "cards" },
      h("article", { class: "card" }, h("h3", {}, t("fever_rate")), fever),
      h("article", { class: "card" }, h("h3", {}, t("stay_home_index")), stay),
      h("article", { class: "card" }, h("h3", {}, t("households.top")), list))));
  let national;
  try { national = await get("/api/v1/household-signals/national"); } catch (error) { fever.replaceChildren(failure(error)); return; }
  if (!national.length) { fever.replaceChildren(notice(t("empty.suppressed"))); stay.replaceChildren(); return; }
  const dates = national.map((d) => d.date);
  await drawLines(fever, [{ x: dates, y: national.map((d) => d.fever_rate), name: t("fever_rate"), colour: "#c62828" }], t("fever_rate"));
  await drawLines(stay, [{ x: dates, y: national.map((d) => d.stay_home_index), name: t("stay_home_index"), colour: "#1b9e77" }], t("stay_home_index"));
  const last = dates[dates.length - 1];
  const rows = await all(`/api/v1/household-signals?date=${last}`);
  const top = rows.filter((r) => r.fever_rate !== null).sort((a, b) => b.fever_rate - a.fever_rate).slice(0, 10);
  list.replaceChildren(table([t("region"), t("fever_rate"), t("households")],
    top.map((r) => [names[r.region_code] || r.region_code, formatNumber(100 * r.fever_rate, 1) + "%", formatNumber(r.households)]),
    (i) => { location.hash = `#/region/${top[i].region_code}`; }),
    csvLink(`/api/v1/household-signals?date=${last}&format=csv`, `household-signals-${last}.csv`));
}

// -- scenarios ------------------------------------------------------------------------------

function scenarioForm(onStarted, baseline) {
  const field = (label, input) => h("label", {}, h("span", {}, label), input);
  const name = h("input", { id: "sc-name", required: true, maxlength: 80, value: lang() === "ko" ? "이동 50% 감소" : "mobility -50%" });
  const kind = h("select", { id: "sc-kind" }, ["mobility", "contacts", "isolation"].map((k) => h("option", { value: k }, t(`kind.${k}`))));
  const first = new Date(`${baseline.start_date}T00:00:00Z`);
  first.setUTCDate(first.getUTCDate() + 14);  // two weeks in, by default
  const start = h("input", { id: "sc-start", type: "date", required: true, value: first.toISOString().slice(0, 10), min: baseline.start_date });
  const end = h("input", { id: "sc-end", type: "date" });
  const reduction = h("input", { id: "sc-reduction", type: "number", min: 0, max: 1, step: 0.05, value: 0.5 });
  const particles = h("input", { id: "sc-particles", type: "number", min: 1, max: 1000, value: 30 });
  const days = h("input", { id: "sc-days", type: "number", min: 7, max: 730, value: Math.min(120, baseline.days) });
  const message = h("p", { class: "form-message", id: "sc-message" });
  const form = h("form", { class: "scenario-form", id: "scenario-form" },
    field(t("scenarios.name"), name), field(t("scenarios.kind"), kind), field(t("scenarios.start"), start),
    field(t("scenarios.end"), end), field(t("scenarios.reduction"), reduction),
    field(t("scenarios.particles"), particles), field(t("scenarios.days"), days),
    h("button", { type: "submit", id: "sc-run" }, t("scenarios.run")), message);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const measure = { kind: kind.value, start: start.value };
    if (end.value) measure.end = end.value;
    if (kind.value === "isolation") measure.days = 3;
    else measure.reduction = Number(reduction.value);
    if (kind.value === "contacts") measure.settings = ["all"];
    try {
      const job = await post("/api/v1/scenario-runs", {
        scenarios: [{ name: name.value, intervention: [measure] }],
        particles: Number(particles.value), days: Number(days.value),
      });
      message.textContent = "";
      onStarted(job);
    } catch (error) { message.textContent = error.message; }
  };
  return form;
}

export async function scenariosView(main, jobId) {
  const runs = h("div", { id: "runs" });
  const result = h("div", { id: "scenario-result" });
  const formCard = h("article", { class: "card" }, h("h3", {}, t("scenarios.new")));
  main.replaceChildren(h("section", {}, h("h2", {}, t("scenarios.title")),
    h("div", { class: "cards" }, formCard, h("article", { class: "card" }, h("h3", {}, t("scenarios.runs")), runs)),
    result));
  let jobs, baseline;
  try {
    [jobs, baseline] = await Promise.all([get("/api/v1/scenario-runs"), get("/api/v1/scenario-runs/baseline")]);
  } catch (error) { runs.replaceChildren(failure(error)); return; }
  formCard.append(scenarioForm((job) => { location.hash = `#/scenarios/${job.id}`; }, baseline),
    h("p", { class: "hint" }, `${t("scenarios.baseline")}: ${baseline.start_date}, ${baseline.days} ${t("scenarios.days")}, ${baseline.regions} ${t("regions")}`));
  const showRuns = (list) => runs.replaceChildren(table(
    [t("scenarios.name"), t("scenarios.state"), t("scenarios.progress")],
    list.slice().reverse().map((j) => [j.scenarios.join(", "), t(`state.${j.state}`),
      h("progress", { max: 1, value: j.progress || null })]),
    (i) => { location.hash = `#/scenarios/${list.slice().reverse()[i].id}`; }));
  showRuns(jobs);
  const chosen = jobId || (jobs.length ? jobs[jobs.length - 1].id : null);
  if (!chosen) return;
  const view = location.hash;
  for (;;) {
    const job = await get(`/api/v1/scenario-runs/${chosen}`);
    result.dataset.state = job.state;
    if (job.state === "done" || job.state === "failed") break;
    result.replaceChildren(h("p", {}, `${job.scenarios.join(", ")}: ${t(`state.${job.state}`)} `,
      h("progress", { id: "job-progress", max: 1, value: job.progress || null })));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (location.hash !== view) return;  // the user moved on
  }
  showRuns(await get("/api/v1/scenario-runs"));
  const job = await get(`/api/v1/scenario-runs/${chosen}`);
  if (job.state === "failed") { result.replaceChildren(notice(job.error)); return; }
  const body = await get(`/api/v1/scenario-runs/${chosen}/result`);
  const curves = h("div", { id: "scenario-curves", class: "chart" });
  const horizonWarning = body.summary.some((s) => s.peak_at_end) ? notice(t("scenarios.horizon")) : null;
  result.replaceChildren(h("article", { class: "card wide" }, horizonWarning,
    table([t("scenarios.name"), t("scenarios.infections"), t("scenarios.averted"), t("scenarios.peak"), t("scenarios.shift")],
      body.summary.map((s) => [s.scenario, formatNumber(s.infections), `${formatNumber(s.averted)} (${formatNumber(100 * s.averted_share, 1)}%)`, s.peak_date, formatNumber(s.peak_shift_days, 1)])),
    h("h3", {}, t("scenarios.curves")), curves,
    rowsLink(body.summary, `scenarios-${chosen}.csv`), " ", rowsLink(body.curves, `scenario-curves-${chosen}.csv`)));
  await drawScenarioCurves(curves, body.curves);
  result.dataset.state = "shown";
}
