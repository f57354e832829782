"""Kept answers: a repeated read is the same bytes without rebuilding them, a changed table is
never answered from before, permissions and the audit still hold on a kept answer, and the
compressed copy is the same answer."""

from __future__ import annotations

import gzip
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch.access import AuditLog


def _answers(client):
    return client.app.state.answers


def test_a_repeated_read_is_the_same_answer_kept(client):
    answers = _answers(client)
    url = "/api/v1/risk-levels?limit=50&offset=10"
    first = client.get(url)
    hits, misses = answers.hits, answers.misses
    second = client.get(url)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert (answers.hits, answers.misses) == (hits + 1, misses)
    other = client.get("/api/v1/risk-levels?limit=50&offset=11")  # another query, another answer
    assert other.json()["items"][0] == first.json()["items"][1]
    assert answers.misses == misses + 1


def test_an_answer_is_never_served_from_an_older_table(client, site):
    path = site.root / "risk" / "risk_levels.parquet"
    before = client.get("/api/v1/risk-levels?limit=1").json()
    client.get("/api/v1/risk-levels?limit=1")  # kept now
    table = pq.read_table(path).to_pandas()
    first = table.sort_values(["date", "region_code"]).index[0]
    table.loc[first, "level"] = 5 - int(table.loc[first, "level"])  # 1 <-> 4, 2 <-> 3
    (site.root / "risk").unlink()  # a private copy: the shared workspace stays as it is
    (site.root / "risk").mkdir()
    time.sleep(0.01)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
    after = client.get("/api/v1/risk-levels?limit=1").json()
    assert after["items"][0]["level"] == 5 - before["items"][0]["level"]


def test_a_kept_analyst_answer_is_still_refused_to_others_and_audited(client, site):
    url = "/api/v1/household-signals?limit=5"
    analyst = site.headers("analyst")
    assert client.get(url, headers=analyst).status_code == 200
    kept = client.get(url, headers=analyst)
    assert kept.status_code == 200
    assert client.get(url).status_code in (401, 403)  # anonymous
    assert client.get(url, headers=site.headers("public")).status_code == 403
    records = [r for r in AuditLog(site.access).records() if r.action == "list_household_signals"]
    granted = [r for r in records if r.outcome.startswith("granted")]
    assert len(granted) == 2  # the kept answer was audited like the first


def test_the_compressed_answer_is_the_same_answer(client):
    url = "/api/v1/map/incidence"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    client.get(url)  # kept
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers.get("content-encoding") == "gzip"
    assert "accept-encoding" in packed.headers.get("vary", "").lower()
    # httpx decodes gzip itself: the body read is the JSON, equal to the plain one
    assert json.loads(packed.content) == json.loads(plain.content)
    raw = client.get(url, headers={"Accept-Encoding": "gzip"}).read()
    assert json.loads(raw if raw[:1] == b"{" else gzip.decompress(raw)) == plain.json()
    csv = client.get(url + "?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    again = client.get(url + "?format=csv")
    assert again.content == csv.content and again.headers["content-disposition"]


def test_a_page_kept_for_one_host_is_not_served_to_another(client):
    url = "/api/v1/risk-levels?limit=2"
    forged = client.get(url, headers={"Host": "evil.example"}).json()
    assert forged["next"].startswith("http://evil.example/")
    honest = client.get(url).json()
    assert honest["next"].startswith("http://testserver/")


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("*;q=0", False),
        ("", False),
    ],
)
def test_gzip_is_sent_only_to_who_accepts_it(header, gzip_ok):
    from spreadwatch.api.answers import accepts_gzip

    assert accepts_gzip(header) is gzip_ok
