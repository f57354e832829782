"""Benchmarks: each ``bench_*.py`` module has ``run() -> dict[str, float]``; ratios are measured
against a baseline in the same run."""
