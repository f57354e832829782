"""The early-warning detector end to end on a synthetic world (synth -> ingest -> fusion)."""

from __future__ import annotations

import pytest
from benchmarks.early_warning_world import evaluate_seed


@pytest.mark.slow
def test_homes_warn_days_before_cases_without_false_alarms(tmp_path):
    result = evaluate_seed(1, tmp_path).evaluation  # seeds differ a lot: see docs/risk.md
    # false alarms are counted over every watched region: quiet ones, and outbreak regions
    # alarming before their outbreak began
    assert result.outbreak_regions >= 5 and result.outbreak_regions + result.quiet_regions >= 20
    assert result.detected >= 3  # outbreaks where both detectors fire
    assert result.median_lead >= 2  # the homes' fever comes days before the reports
    assert result.false_alarm_rate <= 0.1
