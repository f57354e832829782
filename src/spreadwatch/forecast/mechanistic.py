"""The engine's metapopulation model as a forecaster: calibrated at every origin, projected by
its posterior predictive.

At an origin the run config's model is calibrated (``spreadwatch.infer.calibrate``) to the
daily counts seen so far, over a run long enough to reach the last horizon; the forecast paths
are posterior-predictive reports (model, reporting delay and fraction, negative-binomial
noise) of the days after the origin. The cases' regions must be among the config's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from spreadwatch.forecast.history import History
from spreadwatch.infer.calibrate import (
    CalibrationProblem,
    Posterior,
    calibrate,
    posterior_predictive,
)
from spreadwatch.infer.cases import CasesError
from spreadwatch.infer.workflow import priors_of
from spreadwatch.model.config import RunConfig
from spreadwatch.model.run import build_scenario


def read_posterior(path: Path) -> Posterior:
    """The equally weighted draws of a ``posterior.parquet`` written by ``spreadwatch
    calibrate`` (a folder holding one is read too)."""
    from spreadwatch.infer.calibrate import PARAMETERS
    from spreadwatch.infer.workflow import POSTERIOR_FILE

    path = path / POSTERIOR_FILE if path.is_dir() else path
    try:
        table = pq.read_table(path).to_pandas()
    except (OSError, ValueError) as exc:
        raise CasesError(f"{path}: cannot read a posterior ({exc})") from None
    draws = {n: table[n].to_numpy(dtype=np.float64) for n in PARAMETERS if n in table}
    if not draws or "log_likelihood" not in table or table.empty:
        raise CasesError(
            f"{path}: not a posterior of `spreadwatch calibrate` (expected columns "
            f"{', '.join(PARAMETERS)} and log_likelihood)"
        )
    return Posterior(draws, table["log_likelihood"].to_numpy(), [], [], float("nan"))


@dataclass(frozen=True)
class Mechanistic:
    """With a ``posterior`` (a calibration to all the data), the model forecasts from it
    instead of calibrating at the origin; it then forecasts only from the data's end (a
    posterior fitted to later data would leak into earlier origins)."""

    config: RunConfig
    particles: int = 200
    name: str = "mechanistic"
    posterior: Posterior | None = None
    last_origin: dt.date | None = None

    def sample(
        self,
        history: History,
        horizons: int,
        draws: int,
        rng: np.random.Generator,
        notes: list[str] | None = None,
    ) -> np.ndarray:
        if history.unit != "day":
            raise CasesError("the mechanistic model forecasts daily counts: use --unit day")
        start = self.config.run.start_date
        origin = history.ends[-1]
        if history.ends[0] < start:
            raise CasesError(
                f"the cases begin on {history.ends[0]}, before the config's run "
                f"(run.start_date = {start}): start the run no later than the first case"
            )
        days = (origin - start).days + 1 + horizons
        run = self.config.run.model_copy(update={"days": days})
        scenario = build_scenario(self.config.model_copy(update={"run": run}))
        position = {code: i for i, code in enumerate(scenario.regions.codes)}
        missing = [r for r in history.regions if r not in position]
        if missing:
            raise CasesError(
                f"region {missing[0]!r} of the cases is not among the config's "
                f"{len(position)} regions"
            )
        columns = np.array([position[r] for r in history.regions])
        observed = np.zeros((days, scenario.model.regions))
        mask = np.zeros_like(observed, dtype=bool)
        rows = np.array([(d - start).days for d in history.ends])
        observed[np.ix_(rows, columns)] = history.counts
        mask[np.ix_(rows, columns)] = True
        priors, fixed = priors_of(self.config)
        problem = CalibrationProblem(scenario, observed, mask, priors, fixed)
        seed = int(rng.integers(2**31))
        if self.posterior is None:
            posterior = calibrate(problem, self.particles, seed=seed, progress="")
        elif self.last_origin is not None and origin < self.last_origin:
            raise CasesError(
                "a given calibration is fitted to data after this origin: not backtested"
            )
        else:
            missing = set(priors) - set(self.posterior.draws)
            if missing:
                raise CasesError(f"the calibration has no draws of {', '.join(sorted(missing))}")
            posterior = self.posterior
        simulated = posterior_predictive(problem, posterior, draws=draws, seed=seed)
        ahead = simulated[:, days - horizons :, :][:, :, columns].astype(np.float64)
        return ahead[rng.integers(0, ahead.shape[0], size=draws)]
