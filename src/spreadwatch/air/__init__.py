"""Fine dust (PM2.5/PM10): the same data fusion as the epidemic's, for population exposure.

:mod:`spreadwatch.air.field` makes the synthetic truth: an hourly outdoor PM2.5 field over the
peninsula with a westerly transport episode, local sources near dense districts and a diurnal
cycle, from which stations and home purifiers are then sampled.
"""
