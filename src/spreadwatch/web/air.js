// The fine-dust view: the hourly map of a Korean day (PM2.5 outdoors, what people breathe where
// they are, or their exposure), played hour by hour; the day's population figures; a region's
// hours and the next 24 hours' forecast.
import { get } from "./api.js";
import { describe, drawAirFan, drawMap, GRADED, recolour, VIEWS } from "./charts.js";
import { h, table } from "./dom.js";
import { formatNumber, lang, t } from "./i18n.js";
import { csvLink, failure, mapSvg, notice, regionNames } from "./views.js";

const LAYERS = ["pm25", "breathed", "exposure"];
const FRAME_MS = 700;
const state = { layer: "pm25", date: null, hour: null, view: "korea", region: null };

export function readAirParams(params) {
  if (LAYERS.includes(params.get("layer"))) state.layer = params.get("layer");
  if (/^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "")) state.date = params.get("date");
  const hour = Number(params.get("hour"));
  if (params.get("hour") !== null && Number.isInteger(hour) && hour >= 0 && hour < 24) state.hour = hour;
  if (VIEWS[params.get("view")]) state.view = params.get("view");
  state.region = /^\d{5}$/.test(params.get("region") || "") ? params.get("region") : state.region;
}

function airHash() {
  const params = new URLSearchParams({ layer: state.layer, view: state.view, lang: lang() });
  if (state.date) params.set("date", state.date);
  if (state.hour !== null) params.set("hour", state.hour);
  if (state.region) params.set("region", state.region);
  return `#/air?${params}`;
}

function go() {
  const target = airHash();
  if (location.hash !== target) location.hash = target;
}

function frame(day, hour) {
  return { metric: day.layer, values: Object.fromEntries(Object.entries(day.values).map(([code, v]) => [code, v[hour]])) };
}

export async function airView(main) {
  const mapBox = h("div", { id: "map", class: "map", "aria-label": t("nav.air") });
  const dateSelect = h("select", { id: "air-date" });
  const slider = h("input", { id: "hour-slider", type: "range", min: 0, max: 23, step: 1, value: 0 });
  const hourLabel = h("output", { id: "hour-label", for: "hour-slider" });
  const play = h("button", { type: "button", id: "air-play" }, t("air.play"));
  const rankBox = h("div", { id: "air-ranking" });
  const summaryBox = h("div", { id: "air-summary" });
  const side = h("aside", { class: "side" }, summaryBox, rankBox);
  const layers = h("div", { class: "segmented", role: "group", id: "air-layer" }, LAYERS.map((k) =>
    h("button", { type: "button", dataset: { key: k }, class: k === state.layer ? "on" : "", onclick: () => { state.layer = k; go(); } }, t(`metric.${k}`))));
  const views = h("div", { class: "segmented", role: "group", id: "zoom" }, Object.keys(VIEWS).map((v) =>
    h("button", { type: "button", dataset: { key: v }, class: v === state.view ? "on" : "", onclick: () => { state.view = v; go(); } }, t(`view.${v}`))));
  const fan = h("div", { id: "air-fan", class: "chart" });
  main.replaceChildren(h("section", { class: "map-view" },
    h("h2", {}, t("air.title")),
    h("div", { class: "controls" }, h("span", { class: "label" }, t("metric")), layers,
      h("label", { class: "label", for: "air-date" }, t("date")), dateSelect,
      h("label", { class: "label", for: "hour-slider" }, t("air.hour")), slider, hourLabel, play),
    h("div", { class: "controls" }, h("span", { class: "label" }, t("zoom")), views),
    h("div", { class: "map-grid" }, h("div", { class: "map-column" }, mapBox), side),
    h("article", { class: "card wide", id: "air-region" }, h("h3", { id: "air-region-name" }, t("air.pick")), fan)));
  const [svgText, names] = await Promise.all([mapSvg(), regionNames()]);
  let day;
  try {
    day = await get(`/api/v1/air/day?layer=${state.layer}${state.date ? `&date=${state.date}` : ""}`);
  } catch (error) { mapBox.replaceChildren(failure(error)); return; }
  for (const d of day.dates) dateSelect.append(h("option", { value: d, selected: d === day.date }, d));
  dateSelect.onchange = () => { state.date = dateSelect.value; go(); };
  const daily = get(`/api/v1/air/daily?limit=1000`).catch(() => null);
  let hour = state.hour ?? 14;  // 14 KST: people at work, the day's dust risen
  const allValues = Object.values(day.values).flat().filter((v) => v !== null);
  const top = Math.max(0, ...allValues);  // one scale over the day: colours comparable by hour
  const svg = drawMap(mapBox, svgText, frame(day, hour), names, state.view);
  const show = (next) => {
    hour = next;
    slider.value = hour;
    hourLabel.textContent = `${day.date} ${String(hour).padStart(2, "0")}:00 KST`;
    recolour(svg, frame(day, hour), names, top);
    mapBox.dataset.hour = hour;
    ranking(rankBox, day, hour, names);
  };
  mapBox.dataset.layer = day.layer;
  mapBox.dataset.date = day.date;
  show(hour);
  slider.oninput = () => show(Number(slider.value));
  slider.onchange = () => { state.hour = Number(slider.value); history.replaceState(null, "", airHash()); };
  let timer = null;
  play.onclick = () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = t("air.play"); return; }
    play.textContent = t("air.pause");
    timer = setInterval(() => {
      if (!document.body.contains(svg)) { clearInterval(timer); return; }
      show((hour + 1) % 24);
    }, FRAME_MS);
  };
  const pick = async (code) => {
    state.region = code;
    history.replaceState(null, "", airHash());
    document.getElementById("air-region-name").textContent = names[code] || code;
    try { await drawAirFan(fan, await get(`/api/v1/air/regions/${code}`)); fan.dataset.ready = code; }
    catch (error) { fan.replaceChildren(failure(error)); }
  };
  mapBox.onclick = (event) => {
    const path = event.target.closest("path[data-code]");
    if (path) pick(path.dataset.code);
  };
  summaryBox.replaceChildren(summary(await daily, day.date));
  if (state.region) await pick(state.region);
  mapBox.dataset.ready = "1";
}

function ranking(box, day, hour, names) {
  const rows = Object.entries(day.values).map(([code, v]) => [code, v[hour]]).filter(([, v]) => v !== null)
    .sort((a, b) => b[1] - a[1]).slice(0, 12);
  box.replaceChildren(
    h("p", { class: "hint" }, t(GRADED.has(day.layer) ? "air.hint.grades" : "air.hint.exposure")),
    h("h3", {}, t("map.top")),
    table([t("region"), t(`metric.${day.layer}`)], rows.map(([code, v]) => [names[code] || code, describe(day.layer, v)])),
    h("p", { class: "unit" }, t(`unit.${day.layer}`)),
    csvLink("/api/v1/air/daily?format=csv", "air-daily.csv"));
}

function summary(page, date) {
  const row = page && page.items.find((r) => r.date === date);
  if (!row) return notice(t("air.no.daily"));
  const pct = (v) => `${formatNumber(100 * v, 1)}%`;
  return h("div", { class: "air-summary" },
    h("h3", {}, `${t("air.daily")} · ${date}`),
    table([t("air.figure"), t("air.dynamic"), t("air.static")], [
      [t("air.weighted"), `${formatNumber(row.pm25_weighted, 1)} ㎍/㎥`, `${formatNumber(row.pm25_weighted_static, 1)} ㎍/㎥`],
      [t("air.above.korea"), pct(row.share_above_korea), pct(row.share_above_korea_static)],
      [t("air.above.who"), pct(row.share_above_who), pct(row.share_above_who_static)],
    ]));
}
