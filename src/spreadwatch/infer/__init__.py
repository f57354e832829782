"""Inference from reported cases: the reproduction number Rt (Cori et al.) and calibration."""

from spreadwatch.infer.cases import CaseSeries, CasesError, read_cases
from spreadwatch.infer.rt import RtEstimate, discretised_serial_interval, estimate_rt, rt_table

__all__ = [
    "CaseSeries",
    "CasesError",
    "RtEstimate",
    "discretised_serial_interval",
    "estimate_rt",
    "read_cases",
    "rt_table",
]
