// Korean and English texts of the dashboard. Keys not found fall back to English.
export const TEXTS = {
  en: {
    "nav.map": "Map", "nav.flows": "Mobility", "nav.importations": "Importations",
    "nav.households": "Households", "nav.scenarios": "Scenarios",
    "nav.air": "Fine dust", "air.title": "Fine dust (PM2.5) by the hour",
    "air.hour": "Hour", "air.play": "▶ Play", "air.pause": "❚❚ Pause",
    "air.pick": "Click a region for its hours and the next 24 hours' forecast.",
    "air.hint.grades": "Korea's PM2.5 grades. Click a region for its hours and forecast.",
    "air.hint.exposure": "People present times the PM2.5 they breathe there. Click a region for its hours and forecast.",
    "metric.pm25": "PM2.5 outdoors", "metric.breathed": "PM2.5 breathed", "metric.exposure": "Exposure",
    "metric.people": "People present",
    "unit.pm25": "Kriged from the monitoring stations, ug/m3, hour starting as shown (KST).",
    "unit.breathed": "Where people are: 90% of the hour indoors (purifiers' readings), ug/m3.",
    "unit.exposure": "People present x PM2.5 breathed, person-ug/m3.",
    "unit.people": "People present, from carrier presence expanded to the census.",
    "grade.0": "Good", "grade.1": "Moderate", "grade.2": "Bad", "grade.3": "Very bad",
    "grade.range.0": "0-15", "grade.range.1": "16-35", "grade.range.2": "36-75", "grade.range.3": "76+",
    "air.sd": "±1 sd", "air.kriged": "kriged PM2.5", "axis.hour": "Hour (KST)", "air.axis": "PM2.5, ug/m3",
    "air.no.daily": "No daily figures for this date.", "air.daily": "The day's population",
    "air.figure": "Figure", "air.dynamic": "Where people are", "air.static": "Census at home, outdoors",
    "air.weighted": "Population-weighted PM2.5", "air.above.korea": "People above 35 (Korea's standard)",
    "air.above.who": "People above 15 (WHO guideline)",
    "token.button": "Token", "token.label": "Bearer token (from spreadwatch access grant)",
    "token.save": "Use token", "token.clear": "Sign out", "token.cancel": "Cancel",
    "token.bad": "That token was refused", "who.anonymous": "public (anonymous)",
    "foot": "Synthetic or released aggregates only; small counts are suppressed.",
    "metric": "Metric", "metric.risk_level": "Risk level", "metric.incidence": "Incidence per 100k",
    "metric.rt": "Rt", "date": "Date", "loading": "Loading…",
    "level.1": "1 low", "level.2": "2 moderate", "level.3": "3 high", "level.4": "4 very high",
    "map.top": "Highest regions", "map.hint": "Click a region for its forecast and Rt.",
    "region": "Region", "value": "Value", "population": "Population", "back": "← Map",
    "region.level": "Risk level", "region.forecast": "Forecast of daily cases",
    "region.rt": "Effective reproduction number Rt", "model": "Model",
    "observed": "reported cases", "median": "median", "band90": "90% interval",
    "band50": "50% interval", "mean": "mean", "rt.band": "95% interval", "no.data": "No data",
    "flows.title": "Strongest origin-destination flows", "origin": "Origin",
    "destination": "Destination", "trips": "Trips",
    "imports.title": "Arrivals from abroad by country", "country": "Country",
    "arrivals": "Arrivals", "regions": "Regions",
    "households.title": "Household signals", "fever_rate": "Fever rate",
    "stay_home_index": "Stay-home index", "households": "Households",
    "households.top": "Highest fever rate on the latest day",
    "needs.analyst": "This view needs an analyst token (Token, top right).",
    "scenarios.title": "Scenario comparison", "scenarios.new": "New scenario run",
    "scenarios.name": "Name", "scenarios.kind": "Intervention", "scenarios.start": "From",
    "scenarios.end": "To", "scenarios.reduction": "Reduction", "scenarios.particles": "Particles",
    "scenarios.days": "Days", "scenarios.run": "Run", "scenarios.runs": "Runs",
    "scenarios.state": "State", "scenarios.progress": "Progress", "scenarios.open": "Show",
    "scenarios.infections": "Infections (median)", "scenarios.averted": "Averted",
    "scenarios.peak": "Peak date", "scenarios.shift": "Peak shift (days)",
    "scenarios.curves": "New infections per day, median and 90% interval",
    "kind.mobility": "Mobility cut", "kind.contacts": "Contact cut",
    "kind.isolation": "Faster isolation", "kind.travel_quarantine": "Travel quarantine",
    "state.queued": "queued", "state.running": "running", "state.done": "done",
    "state.failed": "failed",
    "scenarios.baseline": "Baseline",
    "empty.suppressed": "Nothing to show: every count here is below the k-anonymity threshold.",
    "zoom": "Zoom", "view.korea": "Korea", "view.capital": "Seoul area", "view.busan": "Busan · Ulsan",
    "view.daegu": "Daegu", "view.gwangju": "Gwangju", "view.daejeon": "Daejeon · Sejong",
    "map.none": "No region has a value above zero on this date.", "csv": "Download CSV",
    "unit.risk_level": "Risk level 1-4 from incidence, Rt, forecast growth, importations and household signals.",
    "unit.incidence": "Reported cases per 100,000 residents per day, mean of 7 days.",
    "unit.rt": "Effective reproduction number, posterior mean (windows with enough cases; 1 = stable).",
    "unit.per100k": "per 100k",
    "rt.none": "Not enough cases in this region to estimate Rt (a window needs 12 cases).",
    "fan.none": "No forecast for this region.",
    "axis.date": "Date", "axis.cases": "Cases per day", "axis.rt": "Rt", "axis.infections": "New infections per day",
    "axis.per100k": "Cases per day per 100k", "scale": "Scale", "scale.cases": "cases",
    "scale.per100k": "per 100k", "scale.log": "log scale",
    "forecast.starts": "forecast starts",
    "factor.incidence": "incidence", "factor.rt": "Rt", "factor.growth": "forecast growth",
    "factor.importation": "importation risk", "factor.household": "household fever signal",
    "explain.points": "pt", "explain.share": "contributes", "explain.score": "score",
    "explain.level": "level",
    "model.baseline": "baseline (last value)", "model.endemic-epidemic": "endemic-epidemic",
    "model.gradient-boosting": "gradient boosting", "model.local-level": "local level (smoothing)", "model.ensemble": "ensemble (median)",
    "model.ensemble-weighted": "ensemble (weighted)", "model.mechanistic": "calibrated SEIR",
    "model.default": "chosen by the backtest",
    "scenarios.horizon": "The peak falls on the last simulated day: the peak and the averted share depend on the horizon. Simulate longer.",
  },
  ko: {
    "nav.map": "지도", "nav.flows": "이동", "nav.importations": "해외 유입",
    "nav.households": "가정 신호", "nav.scenarios": "시나리오",
    "nav.air": "미세먼지", "air.title": "시간별 초미세먼지(PM2.5)",
    "air.hour": "시각", "air.play": "▶ 재생", "air.pause": "❚❚ 멈춤",
    "air.pick": "지역을 누르면 시간별 농도와 앞으로 24시간 예보를 봅니다.",
    "air.hint.grades": "환경부 초미세먼지 등급. 지역을 누르면 시간별 농도와 예보를 봅니다.",
    "air.hint.exposure": "그 지역에 있는 사람 수 x 그곳에서 마시는 초미세먼지. 지역을 누르면 시간별 농도와 예보를 봅니다.",
    "metric.pm25": "실외 초미세먼지", "metric.breathed": "마시는 초미세먼지", "metric.exposure": "노출량",
    "metric.people": "체류 인구",
    "unit.pm25": "측정소 값을 크리깅한 농도, ㎍/㎥, 표시 시각(KST)부터 한 시간.",
    "unit.breathed": "사람들이 있는 곳 기준: 한 시간의 90%는 실내(공기청정기 측정값), ㎍/㎥.",
    "unit.exposure": "체류 인구 x 마시는 초미세먼지, 인·㎍/㎥.",
    "unit.people": "이동통신 체류 인구를 주민등록 인구로 확대한 값.",
    "grade.0": "좋음", "grade.1": "보통", "grade.2": "나쁨", "grade.3": "매우나쁨",
    "grade.range.0": "0-15", "grade.range.1": "16-35", "grade.range.2": "36-75", "grade.range.3": "76 이상",
    "air.sd": "±1 표준편차", "air.kriged": "크리깅 농도", "axis.hour": "시각 (한국 시간)", "air.axis": "PM2.5, ㎍/㎥",
    "air.no.daily": "이 날의 일별 수치가 없습니다.", "air.daily": "이 날의 인구",
    "air.figure": "지표", "air.dynamic": "있는 곳 기준", "air.static": "주민등록 인구, 실외",
    "air.weighted": "인구가중 초미세먼지", "air.above.korea": "35 초과 인구 (국내 기준)",
    "air.above.who": "15 초과 인구 (WHO 권고)",
    "token.button": "토큰", "token.label": "접근 토큰 (spreadwatch access grant)",
    "token.save": "토큰 사용", "token.clear": "로그아웃", "token.cancel": "취소",
    "token.bad": "토큰이 거부되었습니다", "who.anonymous": "일반 (익명)",
    "foot": "합성 또는 공개 집계만 표시하며, 작은 수치는 가려집니다.",
    "metric": "지표", "metric.risk_level": "위험 단계", "metric.incidence": "10만 명당 발생률",
    "metric.rt": "감염재생산지수 Rt", "date": "날짜", "loading": "불러오는 중…",
    "level.1": "1 낮음", "level.2": "2 보통", "level.3": "3 높음", "level.4": "4 매우 높음",
    "map.top": "상위 지역", "map.hint": "지역을 누르면 예측과 Rt를 볼 수 있습니다.",
    "region": "지역", "value": "값", "population": "인구", "back": "← 지도",
    "region.level": "위험 단계", "region.forecast": "일별 확진자 예측",
    "region.rt": "감염재생산지수 Rt", "model": "모형",
    "observed": "신고 확진자", "median": "중앙값", "band90": "90% 구간",
    "band50": "50% 구간", "mean": "평균", "rt.band": "95% 구간", "no.data": "자료 없음",
    "flows.title": "가장 많은 지역 간 이동", "origin": "출발", "destination": "도착",
    "trips": "이동 수",
    "imports.title": "국가별 해외 입국자", "country": "국가", "arrivals": "입국자",
    "regions": "지역 수",
    "households.title": "가정 신호", "fever_rate": "발열 비율", "stay_home_index": "재택 지수",
    "households": "가구 수", "households.top": "최근일 발열 비율 상위 지역",
    "needs.analyst": "분석가 토큰이 필요합니다 (오른쪽 위 토큰).",
    "scenarios.title": "시나리오 비교", "scenarios.new": "새 시나리오 실행",
    "scenarios.name": "이름", "scenarios.kind": "조치", "scenarios.start": "시작",
    "scenarios.end": "종료", "scenarios.reduction": "감소율", "scenarios.particles": "입자 수",
    "scenarios.days": "일수", "scenarios.run": "실행", "scenarios.runs": "실행 목록",
    "scenarios.state": "상태", "scenarios.progress": "진행", "scenarios.open": "보기",
    "scenarios.infections": "감염자 (중앙값)", "scenarios.averted": "예방된 감염",
    "scenarios.peak": "정점 날짜", "scenarios.shift": "정점 이동 (일)",
    "scenarios.curves": "일별 신규 감염, 중앙값과 90% 구간",
    "kind.mobility": "이동 제한", "kind.contacts": "접촉 감소",
    "kind.isolation": "신속 격리", "kind.travel_quarantine": "입국자 격리",
    "state.queued": "대기", "state.running": "실행 중", "state.done": "완료",
    "state.failed": "실패",
    "scenarios.baseline": "기준 시나리오",
    "empty.suppressed": "표시할 값이 없습니다: 모든 수치가 k-익명성 기준보다 작습니다.",
    "zoom": "확대", "view.korea": "전국", "view.capital": "수도권", "view.busan": "부산 · 울산",
    "view.daegu": "대구", "view.gwangju": "광주", "view.daejeon": "대전 · 세종",
    "map.none": "이 날짜에 0보다 큰 값을 가진 지역이 없습니다.", "csv": "CSV 내려받기",
    "unit.risk_level": "발생률, Rt, 예측 증가율, 해외 유입, 가정 신호를 합친 위험 단계 1-4.",
    "unit.incidence": "인구 10만 명당 하루 신고 확진자 수, 7일 평균.",
    "unit.rt": "감염재생산지수, 사후 평균 (확진자가 충분한 구간; 1 = 유지).",
    "unit.per100k": "명/10만",
    "rt.none": "이 지역은 확진자가 적어 Rt를 추정할 수 없습니다 (구간마다 12명 필요).",
    "fan.none": "이 지역의 예측이 없습니다.",
    "axis.date": "날짜", "axis.cases": "하루 확진자 수", "axis.rt": "Rt", "axis.infections": "하루 신규 감염",
    "axis.per100k": "인구 10만 명당 하루 확진자", "scale": "단위", "scale.cases": "확진자 수",
    "scale.per100k": "10만 명당", "scale.log": "로그 축",
    "forecast.starts": "예측 시작",
    "factor.incidence": "발생률", "factor.rt": "Rt", "factor.growth": "예측 증가율",
    "factor.importation": "해외 유입 위험", "factor.household": "가정 발열 신호",
    "explain.points": "점", "explain.share": "기여", "explain.score": "점수",
    "explain.level": "단계",
    "model.baseline": "기준 모형 (최근 값)", "model.endemic-epidemic": "풍토-유행 모형",
    "model.gradient-boosting": "그래디언트 부스팅", "model.local-level": "국소 수준 (지수 평활)", "model.ensemble": "앙상블 (중앙값)",
    "model.ensemble-weighted": "앙상블 (가중)", "model.mechanistic": "보정된 SEIR",
    "model.default": "백테스트로 선택",
    "scenarios.horizon": "정점이 모의 마지막 날에 있습니다: 정점과 예방 비율이 기간에 따라 달라집니다. 더 길게 모의하십시오.",
  },
};

let current = localStorage.getItem("spreadwatch.lang") || "ko";

export function lang() { return current; }

export function setLang(code) {
  current = TEXTS[code] ? code : "en";
  localStorage.setItem("spreadwatch.lang", current);
  document.documentElement.lang = current;
}

export function t(key) {
  return (TEXTS[current] && TEXTS[current][key]) || TEXTS.en[key] || key;
}

export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const b of root.querySelectorAll("[data-lang]")) {
    b.classList.toggle("on", b.dataset.lang === current);
  }
}

// The sentence that explains a risk level, from its factors' values, points and contributions.
export function explainLevel(row) {
  const factors = ["incidence", "rt", "growth", "importation", "household"]
    .filter((f) => row[f] !== null && row[f] !== undefined)
    .sort((a, b) => (row[`${b}_contribution`] || 0) - (row[`${a}_contribution`] || 0));
  if (!factors.length) return "";
  const parts = factors.map((f) => `${t(`factor.${f}`)} ${formatNumber(row[f], 2)} ` +
    `(${row[`${f}_points`]} ${t("explain.points")}, ${t("explain.share")} ${formatNumber(row[`${f}_contribution`], 2)})`);
  return `${t("explain.level")} ${t(`level.${row.level}`)}, ${t("explain.score")} ${formatNumber(row.score, 2)}: ${parts.join("; ")}`;
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(current === "ko" ? "ko-KR" : "en-US", {
    maximumFractionDigits: digits, minimumFractionDigits: 0,
  });
}

// Large counts as people read them: 5.3M, 530만.
export function formatCompact(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(current === "ko" ? "ko-KR" : "en-US", {
    notation: "compact", maximumFractionDigits: 1,
  });
}
