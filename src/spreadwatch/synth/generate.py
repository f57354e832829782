"""``generate``: write a whole synthetic Korea the way carriers and platforms deliver it.

Order of work (each piece from its own seeded stream, see :mod:`spreadwatch.synth.streams`):
cells and subscribers, the true epidemic and reported cases, roaming trips, households (and
their registered members), then day by day (progress bar) the location events of every carrier in
subscriber blocks of at most ``chunk_rows`` events, and the device telemetry; finally the truth
tables and the manifest.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from spreadwatch.progress import step, track
from spreadwatch.synth import air_world, events, roaming, telemetry
from spreadwatch.synth import epidemic as epi
from spreadwatch.synth.cells import CarrierCells, place_cells
from spreadwatch.synth.config import SynthConfig
from spreadwatch.synth.geography import (
    Geography,
    commute_probability,
    commuting_matrix,
    daily_matrix,
)
from spreadwatch.synth.manifest import SynthManifest
from spreadwatch.synth.messy import CELL_KINDS, DeliveredCoordinates, LocationMess, corrupt_cells
from spreadwatch.synth.population import CarrierSubscribers, make_subscribers, split_by_share
from spreadwatch.synth.streams import stream
from spreadwatch.synth.writer import TableSink, write_json, write_table

RAW, TRUTH = "raw", "truth"
#: Where each ingest source's raw files are below ``raw/`` (a file, or a folder of them).
RAW_FILES = {
    "cells": "cells.csv",
    "location": "location_events",
    "roaming": "roaming_events.csv",
    "telemetry": "device_telemetry",
    "households": "households.csv",
    "household_members": "household_members.csv",
    "cases": "cases.csv",
    "air_stations": "air_stations.csv",
    "air_readings": "air_readings.csv",
}
MARKER = ".spreadwatch-synth"
SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)


def _epoch_seconds(day: date) -> int:
    return (day - _EPOCH).days * SECONDS_PER_DAY


def _prepare(out_dir: Path) -> None:
    """Remove a previous (possibly interrupted) run's output; refuse to touch other data."""
    marker = out_dir / MARKER
    parts = [out_dir / RAW, out_dir / TRUTH, out_dir / "manifest.json"]
    if not marker.exists() and any(p.exists() for p in parts):
        raise FileExistsError(f"{out_dir} holds raw/, truth/ or manifest.json not made by synth")
    for part in parts:
        if part.is_dir():
            shutil.rmtree(part)
        elif part.exists():
            part.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("output folder of spreadwatch.synth.generate; rerunning replaces it\n")


def _blocks(n: int, per_subscriber: float, chunk_rows: int) -> list[slice]:
    """Subscriber blocks whose expected events stay well under ``chunk_rows``."""
    parts = max(1, int(np.ceil(n * per_subscriber * 1.2 / chunk_rows)))
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def _carrier_column(items: list[CarrierCells] | list[CarrierSubscribers]) -> pa.Array:
    """The carrier name repeated for each cell or subscriber of each carrier."""
    return pa.array(np.concatenate([np.full(x.size, x.carrier, dtype=object) for x in items]))


def _cells_table(cells: list[CarrierCells], delivered: list[DeliveredCoordinates]) -> pa.Table:
    return pa.table(
        {
            "carrier": _carrier_column(cells),
            "cell_id": pa.concat_arrays([c.ids for c in cells]),
            "lat": np.concatenate([d.lat for d in delivered]),
            "lon": np.concatenate([d.lon for d in delivered]),
        }
    )


def _cells_truth(
    cells: list[CarrierCells], delivered: list[DeliveredCoordinates], geo: Geography
) -> pa.Table:
    return pa.table(
        {
            "carrier": _carrier_column(cells),
            "cell_id": pa.concat_arrays([c.ids for c in cells]),
            "region_code": pa.array(geo.codes[np.concatenate([c.region for c in cells])]),
            "lat": np.concatenate([c.lat for c in cells]),
            "lon": np.concatenate([c.lon for c in cells]),
            "defect": pa.array(np.concatenate([d.defect for d in delivered]), pa.string()),
        }
    )


def _subscribers_truth(subs: list[CarrierSubscribers], geo: Geography) -> pa.Table:
    return pa.table(
        {
            "carrier": _carrier_column(subs),
            "subscriber_id": pa.concat_arrays([s.ids for s in subs]),
            "home_region": pa.array(geo.codes[np.concatenate([s.home for s in subs])]),
            "day_region": pa.array(geo.codes[np.concatenate([s.day for s in subs])]),
        }
    )


def _by_date_region(dates: list[date], geo: Geography, columns: dict[str, np.ndarray]) -> pa.Table:
    """A long table from ``(days, regions)`` arrays, ordered by date then region."""
    return pa.table(
        {
            "date": pa.array(np.repeat(np.array(dates, dtype="datetime64[D]"), geo.size)),
            "region_code": pa.array(np.tile(geo.codes, len(dates)), pa.string()),
            **{name: pa.array(values.ravel()) for name, values in columns.items()},
        }
    )


def _mobility_truth(usual: np.ndarray, config: SynthConfig, geo: Geography) -> pa.Table:
    n = geo.size
    weekday = daily_matrix(usual, config.mobility.weekday_commute)
    weekend = daily_matrix(usual, config.mobility.weekend_commute)
    return pa.table(
        {
            "origin": pa.array(np.repeat(geo.codes, n), pa.string()),
            "dest": pa.array(np.tile(geo.codes, n), pa.string()),
            "usual_share": usual.ravel(),
            "weekday_share": weekday.ravel(),
            "weekend_share": weekend.ravel(),
        }
    )


def generate(config: SynthConfig, out_dir: Path) -> SynthManifest:
    """Write the raw inputs, the truth and ``manifest.json`` of ``config`` into ``out_dir``.

    Output is byte-identical for equal configs. A previous run in ``out_dir`` is replaced.
    Raises ``KeyError`` (before writing anything) if the epidemic's seed region is unknown.
    """
    geo = Geography.load()
    try:  # fail before touching out_dir
        seed_region = geo.index_of(config.epidemic.seed_region)
    except KeyError:
        raise ValueError(
            f"epidemic.seed_region: {config.epidemic.seed_region!r} is not a si-gun-gu code "
            "(see `spreadwatch regions`)"
        ) from None
    out_dir = Path(out_dir)
    _prepare(out_dir)
    raw, truth = out_dir / RAW, out_dir / TRUTH
    seed, names = config.seed, list(config.carriers)
    dates = [config.start_date + timedelta(days=d) for d in range(config.days)]
    starts = [_epoch_seconds(d) for d in dates]
    window = (starts[0], starts[0] + config.days * SECONDS_PER_DAY)
    files: dict[str, int] = {}

    def record(path: Path, rows: int) -> None:
        files[path.relative_to(out_dir).as_posix()] = rows

    with step("synth: cells and subscribers"):
        usual = commuting_matrix(geo, config.mobility)
        cells = [
            place_cells(name, geo, config.cells_per_10k_people, stream(seed, "cells", k))
            for k, name in enumerate(names)
        ]
        counts = split_by_share(config.subscribers, config.carriers)
        subs = [
            make_subscribers(name, counts[name], geo, usual, cells[k], stream(seed, "subs", k))
            for k, name in enumerate(names)
        ]
        delivered, cell_defects = corrupt_cells(
            cells, config.messy_fraction, stream(seed, "messy-cells")
        )
        path = raw / RAW_FILES["cells"]
        record(path, write_table(_cells_table(cells, delivered), path))

    with step("synth: true epidemic, cases, roaming, households"):
        matrices: dict[float, np.ndarray] = {}
        mixing = []
        for day in dates:
            p = commute_probability(config.mobility, day)
            mixing.append(matrices.setdefault(p, daily_matrix(usual, p)))
        truth_epidemic = epi.simulate(
            config.epidemic, geo.population, mixing, seed_region, stream(seed, "epidemic")
        )
        confirmed = epi.report(
            truth_epidemic.new_infections, config.reporting, stream(seed, "reporting")
        )
        cases = _by_date_region(dates, geo, {"confirmed": confirmed})
        cases = cases.select(["region_code", "date", "confirmed"])
        path = raw / RAW_FILES["cases"]
        record(path, write_table(cases, path))

        outbound = roaming.outbound_trips(config.roaming, subs, window, stream(seed, "outbound"))
        inbound = roaming.inbound_visits(
            config.roaming, config.carriers, config.subscribers, window, stream(seed, "inbound")
        )
        roaming_table = roaming.to_table([outbound, inbound], window[1])
        path = raw / RAW_FILES["roaming"]
        record(path, write_table(roaming_table, path))

        homes = telemetry.make_households(
            config.telemetry, subs, stream(seed, "households"), geo.population, geo.codes
        )
        homes = telemetry.infect(
            homes, truth_epidemic.new_infections, geo.population, stream(seed, "household-sick")
        )
        path = raw / RAW_FILES["households"]
        record(path, write_table(telemetry.registry_table(homes, geo.codes), path))
        path = raw / RAW_FILES["household_members"]
        record(path, write_table(telemetry.members_table(homes), path))

    air = None
    if config.air.enabled:
        with step("synth: fine dust, stations and purifiers"):
            air = air_world.make_air_world(config, geo)
            for name, table in zip(
                ("air_stations", "air_readings"), air_world.station_tables(air, geo), strict=True
            ):
                path = raw / RAW_FILES[name]
                record(path, write_table(table, path))

    purifier_homes = air.purifier_homes(homes, geo.size) if air is not None else None
    mess = LocationMess(config.messy_fraction)
    per_subscriber = config.events_per_day + 1.0
    blocks = [_blocks(s.size, per_subscriber, config.chunk_rows) for s in subs]
    platforms = list(config.telemetry.platforms)
    fmt = config.telemetry.format
    with ExitStack() as stack:
        device_sinks = {
            p: stack.enter_context(
                TableSink(raw / RAW_FILES["telemetry"] / f"{p}.{fmt}", telemetry.COLUMNS, fmt)
            )
            for p in platforms
        }
        for d in track(range(config.days), "synth: location events and telemetry by day"):
            p_commute = commute_probability(config.mobility, dates[d])
            for k, name in enumerate(names):
                suffix = config.events_format
                path = raw / RAW_FILES["location"] / name / f"{dates[d].isoformat()}.{suffix}"
                with TableSink(path, events.COLUMNS, config.events_format) as sink:
                    for b, block in enumerate(blocks[k]):
                        batch = events.day_events(
                            subs[k],
                            cells[k],
                            block,
                            events_per_day=config.events_per_day,
                            commute_probability=p_commute,
                            anchor_probability=config.mobility.anchor_probability,
                            absence=outbound.absence(name, block, starts[d]),
                            rng=stream(seed, "events", k, d, b),
                        )
                        defects = mess.plan(
                            batch, cells[k], starts[d], stream(seed, "messy", k, d, b)
                        )
                        sink.write(events.to_table(batch, subs[k], cells[k], starts[d], defects))
                record(path, sink.rows)
            readings = telemetry.day_readings(
                homes,
                geo.size,
                d,
                dates[d],
                starts[d],
                config.epidemic,
                stream(seed, "telemetry", d),
                config.telemetry.readings_per_day,
                air.purifier_day(purifier_homes, d) if air is not None else None,
            )
            for p, table in readings.items():
                device_sinks[p].write(table)
    for sink in device_sinks.values():
        record(sink.path, sink.rows)

    with step("synth: truth and manifest"):
        e = truth_epidemic
        truth_tables = {
            "epidemic": _by_date_region(
                dates,
                geo,
                {"S": e.S, "E": e.E, "I": e.I, "R": e.R, "new_infections": e.new_infections},
            ),
            "subscribers": _subscribers_truth(subs, geo),
            "mobility": _mobility_truth(usual, config, geo),
            "cells": _cells_truth(cells, delivered, geo),
            "travel": roaming.truth_table([outbound, inbound]),
            "households": telemetry.truth_table(homes, geo.codes, config.start_date),
        }
        if air is not None:
            truth_tables.update(air_world.truth_tables(air, config, geo, usual))
        for name, table in truth_tables.items():
            path = truth / f"{name}.parquet"
            record(path, write_table(table, path, "parquet"))

        messy = {**mess.counts, "bad_cell_coords": sum(cell_defects.values())}
        messy_detail = {
            "location_events": dict(mess.counts),
            "bad_timestamp_variants": dict(mess.timestamp_variants),
            "cells": {k: cell_defects[k] for k in CELL_KINDS},
        }
        write_json({"messy": messy, **messy_detail}, truth / "messy.json")
        location_rows = sum(v for k, v in files.items() if k.startswith(f"{RAW}/location_events/"))
        manifest = SynthManifest(
            config=config,
            files=dict(sorted(files.items())),
            messy=messy,
            messy_detail=messy_detail,
            totals={
                "subscribers": sum(s.size for s in subs),
                "cells": sum(c.size for c in cells),
                "location_events": location_rows,
                "roaming_events": roaming_table.num_rows,
                "outbound_trips": outbound.size,
                "inbound_visitors": inbound.size,
                "households": homes.count,
                "device_readings": sum(s.rows for s in device_sinks.values()),
                "true_infections": int(e.new_infections.sum()),
                "confirmed_cases": int(confirmed.sum()),
            },
            subscribers_by_carrier={s.carrier: s.size for s in subs},
            cells_by_carrier={c.carrier: c.size for c in cells},
            root=out_dir,
        )
        (out_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def synth_sources(raw: Path, names: Iterable[str] | None = None) -> dict[str, list[Path]]:
    """The raw files of a synthetic world's ``raw/`` folder by source, for ingest: every
    source (or those of ``names``) whose file or folder the world holds (a world written
    before a source existed lacks its file)."""
    wanted = RAW_FILES if names is None else {n: RAW_FILES[n] for n in names}
    return {name: [raw / path] for name, path in wanted.items() if (raw / path).exists()}
