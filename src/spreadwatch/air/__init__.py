"""Fine dust (PM2.5/PM10): the same data fusion as the epidemic's, for population exposure.

From the ingested station readings, an hourly PM2.5 field per si-gun-gu
(:mod:`spreadwatch.air.interpolate`), with the homes' purifiers' indoor readings; against the
carriers' hourly presence, the population's exposure. The synthetic truth the estimates are
checked against is made by :mod:`spreadwatch.synth.dust` (the field),
:mod:`spreadwatch.synth.stations` and :mod:`spreadwatch.synth.purifiers`.
"""
