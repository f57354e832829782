// The dashboard: hash routes, language, token.
import { get, setToken, token } from "./api.js";
import { airView, readAirParams } from "./air.js";
import { setLang, t, translateStatic, lang } from "./i18n.js";
import { flowsView, focusRegion, householdsView, importationsView, mapView, readMapParams, regionPixel, regionView, scenariosView } from "./views.js";

const main = document.getElementById("view");
const status = document.getElementById("status");

async function showWho() {
  const who = document.getElementById("who");
  try {
    const me = await get("/api/v1/me");
    who.textContent = me.name === "anonymous" ? t("who.anonymous") : `${me.name} · ${me.role}`;
    who.dataset.role = me.role;
  } catch (error) {
    who.textContent = t("token.bad");
    who.dataset.role = "none";
  }
}

async function route() {
  const [path, query = ""] = location.hash.split("?");
  const [, view = "map", arg] = path.replace(/^#\/?/, "#/").split("/");
  const params = new URLSearchParams(query);
  if (params.get("lang") && params.get("lang") !== lang()) { setLang(params.get("lang")); translateStatic(); }
  if (view === "map" || view === "") readMapParams(params);
  if (view === "air") readAirParams(params);
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("on", a.dataset.view === (view === "region" ? "map" : view));
  }
  document.body.dataset.view = view;
  status.textContent = t("loading");
  main.dataset.ready = "";
  try {
    if (view === "region") await regionView(main, arg, params);
    else if (view === "flows") await flowsView(main);
    else if (view === "importations") await importationsView(main);
    else if (view === "households") await householdsView(main);
    else if (view === "scenarios") await scenariosView(main, arg);
    else if (view === "air") await airView(main);
    else await mapView(main);
    status.textContent = "";
  } catch (error) {
    status.textContent = error.message || String(error);
  }
  main.dataset.ready = view;
}

function setUpToken() {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-button").onclick = () => { input.value = token(); dialog.showModal(); };
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue === "save") setToken(input.value);
    if (dialog.returnValue === "clear") setToken("");
    if (dialog.returnValue !== "cancel") { await showWho(); route(); }
  });
}

for (const button of document.querySelectorAll("[data-lang]")) {
  button.onclick = () => {
    setLang(button.dataset.lang);
    translateStatic();
    showWho();
    const [path, query] = location.hash.split("?");
    if (query === undefined) { route(); return; }
    const params = new URLSearchParams(query);
    params.set("lang", lang());
    location.hash = `${path}?${params}`;  // the hashchange draws it
  };
}
setLang(lang());
translateStatic();
setUpToken();
window.addEventListener("hashchange", route);
window.spreadwatch = { focusRegion, regionPixel, route };
showWho();
route();
