"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against a real
``spreadwatch serve``: map, metric switch, date slider, a click on the map to a region's fan
chart and Rt, language switch, the analyst views and a scenario run; screenshots saved;
nothing is fetched from outside the server and the page logs no error."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.limits import TIMEOUT, timeout

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


def api(server, path: str, role: str | None = None):
    request = urllib.request.Request(server.url + path, headers=server.site.headers(role))
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


@pytest.fixture
def browser_page(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(TIMEOUT * 1000)
        problems, outside = [], []
        refused = "the server responded with a status of 403"  # a view shown to the wrong role

        def console(message) -> None:
            if message.type == "error" and refused not in message.text:
                problems.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda error: problems.append(str(error)))
        local = (server.url, "data:", "blob:")
        page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
        page.problems, page.outside = problems, outside
        yield page
        browser.close()


def shots_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SPREADWATCH_SCREENSHOTS", tmp_path / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def map_values(page) -> dict[str, float]:
    """The value each region of the drawn map carries (``data-value`` of its SVG path)."""
    return page.evaluate(
        "() => Object.fromEntries(Array.from(document.querySelectorAll("
        "'#map path[data-code][data-value]'))"
        ".map((p) => [p.dataset.code, Number(p.dataset.value)]))"
    )


def luminance(rgb) -> float:
    r, g, b = (c / 255 for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def rendered_colour(page, code: str, tmp_path: Path) -> tuple[int, int, int]:
    """The colour a person sees at a region's label point, zoomed in on it (a screenshot
    pixel; at the country's zoom a city district is a few pixels)."""
    from PIL import Image

    assert page.evaluate(f"window.spreadwatch.focusRegion('{code}')")
    point = page.evaluate(f"window.spreadwatch.regionPixel('{code}')")
    shot = tmp_path / f"pixel-{code}.png"
    page.screenshot(path=shot)
    with Image.open(shot) as image:
        scale = image.width / page.viewport_size["width"]
        return image.convert("RGB").getpixel((int(point["x"] * scale), int(point["y"] * scale)))


def assert_darker_is_more(page, values: dict, tmp_path: Path) -> None:
    """On the incidence map the highest region is rendered darker than the lowest shown one."""
    known = {c: v for c, v in values.items() if v is not None}
    high = max(known, key=known.get)
    low = min(known, key=known.get)
    assert known[high] > known[low], "the test workspace has regions of different incidence"
    assert luminance(rendered_colour(page, high, tmp_path)) < luminance(
        rendered_colour(page, low, tmp_path)
    )


def assert_korean_page_is_translated(page) -> None:
    """No English UI text (from the dashboard's own dictionary) is left on a Korean page, in
    the HTML or in the charts' SVG, and no 'undefined' or 'NaN' shows."""
    english = page.evaluate(
        """async () => { const m = await import('/app/i18n.js');
           return Object.entries(m.TEXTS.en).filter(([k, v]) => m.TEXTS.ko[k] !== v)
                        .map(([, v]) => v); }"""
    )
    seen = page.evaluate(
        "document.body.innerText + ' ' +"
        " Array.from(document.querySelectorAll('svg text')).map((e) => e.textContent).join(' ')"
    )
    leftover = [text for text in english if len(text) > 3 and text in seen]
    assert not leftover, f"untranslated on the Korean page: {leftover}"
    for word in ("undefined", "NaN", "null"):
        assert word not in seen


def assert_charts_have_axis_titles(page) -> None:
    titles = page.evaluate(
        """Array.from(document.querySelectorAll('.chart.js-plotly-plot')).map((c) => [c.id,
             (c.layout.xaxis && c.layout.xaxis.title && c.layout.xaxis.title.text) || '',
             (c.layout.yaxis && c.layout.yaxis.title && c.layout.yaxis.title.text) || ''])"""
    )
    assert titles, "the page has charts"
    for chart, x, y in titles:
        assert x and y, f"{chart}: axis titles {x!r}, {y!r}"


def date_ticks(page, chart: str) -> list[str]:
    """The date labels drawn under a chart's x axis (the first line of each)."""
    return page.evaluate(
        f"[...document.querySelectorAll('#{chart} .xtick text')]"
        ".map((t) => (t.querySelector('tspan') || t).textContent.trim())"
        ".filter((text) => text)"
    )


def test_map_region_page_and_languages(server, browser_page, tmp_path):
    page, shots = browser_page, shots_folder(tmp_path)
    page.goto(server.url + "/#/map")
    page.wait_for_selector("main[data-ready=map] #map[data-date]")
    layer = api(server, "/api/v1/map/risk_level")
    expected = {k: v for k, v in layer["values"].items() if v is not None}
    assert map_values(page) == expected
    page.screenshot(path=shots / "map-risk-level.png")

    page.click("#metric button[data-key=incidence]")
    page.wait_for_selector("#map[data-metric=incidence]")
    assert "metric=incidence" in page.evaluate("location.hash")  # the URL holds the map
    incidence = api(server, "/api/v1/map/incidence")
    shown = map_values(page)
    assert shown == pytest.approx({k: v for k, v in incidence["values"].items() if v is not None})
    assert_darker_is_more(page, incidence["values"], tmp_path)
    first = incidence["dates"][0]
    page.eval_on_selector(
        "#date-slider", "s => { s.value = 0; s.dispatchEvent(new Event('change')); }"
    )
    page.wait_for_selector(f"#map[data-date='{first}']")
    assert page.text_content("#date-label") == first

    code = max(expected, key=lambda c: (expected[c], c))  # the riskiest region
    page.wait_for_load_state("networkidle")  # the page laid out whole: nothing moves the map
    point = page.evaluate(f"window.spreadwatch.regionPixel('{code}')")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector("#fan[data-ready='1']")
    assert page.evaluate("location.hash") == f"#/region/{code}"
    fan = api(server, f"/api/v1/forecasts/{code}/fan")
    median = page.evaluate("document.getElementById('fan').data[4].y")
    assert median == pytest.approx([p["q0.5"] for p in fan["forecast"]])
    page.wait_for_selector("#rt-chart[data-ready='1'], #rt-chart .notice")
    page.wait_for_selector("#level:not(:empty)")
    page.screenshot(path=shots / "region-ko.png")
    assert_korean_page_is_translated(page)
    assert_charts_have_axis_titles(page)
    ticks = date_ticks(page, "fan")  # what a reader sees under the chart, in Korean
    assert ticks and all(re.fullmatch(r"\d{1,2}월 \d{1,2}일", tick) for tick in ticks), ticks

    region = api(server, f"/api/v1/regions/{code}")
    assert page.text_content("#region-name") == f"{region['name_ko']} · {region['sido_name_ko']}"
    page.click("#lang-en")
    page.wait_for_selector("#fan[data-ready='1']")
    assert page.text_content("#region-name") == f"{region['name_en']}, {region['sido_name_en']}"
    assert page.text_content("nav a[data-view=map]") == "Map"
    page.screenshot(path=shots / "region-en.png")
    assert any(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", tick) for tick in date_ticks(page, "fan"))
    assert not page.outside, f"requests left the server: {page.outside}"
    assert not page.problems, page.problems


def test_analyst_views_and_a_scenario_run(server, browser_page, tmp_path):
    page, shots = browser_page, shots_folder(tmp_path)
    page.goto(server.url + "/#/importations")
    page.wait_for_selector("main[data-ready=importations] .notice")  # public: not allowed
    page.click("#token-button")
    page.fill("#token-input", server.site.tokens["analyst"])
    page.click("#token-form button[value=save]")
    page.wait_for_selector(".who[data-role=analyst]")
    page.wait_for_selector("main[data-ready=importations] #imports-chart .main-svg")
    countries = api(server, "/api/v1/importations/by-country", "analyst")
    assert countries, "the test workspace releases some importations"
    bars = page.evaluate("document.getElementById('imports-chart').data[0].x")
    assert sorted(bars, reverse=True) == [c["arrivals"] for c in countries[:15]]
    page.screenshot(path=shots / "importations.png")

    page.goto(server.url + "/#/flows")
    page.wait_for_selector("main[data-ready=flows] #flows-chart .main-svg")
    day = page.eval_on_selector("#flow-date", "s => s.value")
    strongest = api(server, f"/api/v1/od-flows?date={day}&suppressed=false&limit=20")["items"]
    assert strongest, "the test workspace releases some flows"
    shown = page.evaluate("document.getElementById('flows-chart').data[0].x")
    assert list(reversed(shown)) == [f["trips"] for f in strongest]
    page.screenshot(path=shots / "flows.png")

    page.goto(server.url + "/#/households")
    page.wait_for_selector("main[data-ready=households] #fever-chart .main-svg")
    assert page.evaluate("document.getElementById('fever-chart').data[0].x.length") > 0
    page.screenshot(path=shots / "households.png")

    page.goto(server.url + "/#/scenarios")
    page.wait_for_selector("main[data-ready=scenarios] #scenario-form")
    page.fill("#sc-particles", "3")
    page.fill("#sc-days", "20")
    page.click("#sc-run")
    page.wait_for_selector("#scenario-result[data-state=shown]", timeout=timeout(3) * 1000)
    jobs = api(server, "/api/v1/scenario-runs", "analyst")
    assert len(jobs) == 1 and jobs[0]["state"] == "done"
    result = api(server, f"/api/v1/scenario-runs/{jobs[0]['id']}/result", "analyst")
    traces = page.evaluate("document.getElementById('scenario-curves').data.length")
    assert traces == 3 * len(result["summary"])
    page.screenshot(path=shots / "scenarios.png", full_page=True)
    assert not page.outside, f"requests left the server: {page.outside}"
    assert not page.problems, page.problems


def test_fine_dust_map_plays_the_day_in_grade_colours(server, browser_page, tmp_path):
    page, shots = browser_page, shots_folder(tmp_path)
    page.goto(server.url + "/#/air?hour=14")
    page.wait_for_selector("main[data-ready=air] #map[data-ready='1'][data-hour='14']")
    day = api(server, "/api/v1/air/day?layer=pm25")
    at_two = {code: values[14] for code, values in day["values"].items()}
    assert map_values(page) == pytest.approx(at_two)
    assert page.text_content("#hour-label") == f"{day['date']} 14:00 KST"
    # the fill a person sees follows Korea's grades: blue good .. red very bad
    grades = {"#1e88e5": (0, 15), "#43a047": (15, 35), "#fb8c00": (35, 75), "#e53935": (75, 1e9)}
    fills = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#map path[data-code]')]"
        ".map((p) => [p.dataset.code, p.getAttribute('fill')]))"
    )
    for code, value in at_two.items():
        low, high = grades[fills[code]]
        assert low < value <= high or (value == 0 and low == 0), (code, value, fills[code])
    legend = page.text_content("#map-legend")
    assert "좋음" in legend and "매우나쁨" in legend
    summary = page.text_content("#air-summary")
    daily = {r["date"]: r for r in api(server, "/api/v1/air/daily?limit=1000")["items"]}
    shown = float(re.search(r"([\d.]+) ㎍/㎥", summary).group(1))  # the first figure: dynamic
    assert shown == pytest.approx(daily[day["date"]]["pm25_weighted"], abs=0.051)
    page.screenshot(path=shots / "air-ko.png")
    assert_korean_page_is_translated(page)

    page.click("#air-play")  # the animation moves the hour on
    page.wait_for_selector("#map[data-hour='15']")
    page.click("#air-play")
    hour = int(page.get_attribute("#map", "data-hour"))
    shown = map_values(page)
    assert shown == pytest.approx({c: v[hour] for c, v in day["values"].items()})

    code = max(at_two, key=at_two.get)  # the dustiest district at 14 KST
    page.evaluate(f"document.querySelector('#map path[data-code=\"{code}\"]')"
                  ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")  # fmt: skip
    page.wait_for_selector(f"#air-fan[data-ready='{code}']")
    region = api(server, f"/api/v1/air/regions/{code}")
    median = page.evaluate("document.getElementById('air-fan').data[7].y")
    assert median == pytest.approx([p["median"] for p in region["forecast"]])
    assert_charts_have_axis_titles(page)
    page.click("#lang-en")
    page.wait_for_selector("main[data-ready=air] #map[data-ready='1']")
    assert page.text_content("nav a[data-view=air]") == "Fine dust"
    page.click("#air-layer button[data-key=exposure]")
    page.wait_for_selector("#map[data-layer=exposure][data-ready='1']")
    assert_darker_is_more(page, map_values(page), tmp_path)
    page.screenshot(path=shots / "air-exposure-en.png")
    assert not page.outside, f"requests left the server: {page.outside}"
    assert not page.problems, page.problems
