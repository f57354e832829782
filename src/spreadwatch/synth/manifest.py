"""What a run wrote: the config, row counts per file and the messy rows injected."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from spreadwatch.synth.config import SynthConfig

FORMAT_VERSION = 1


class SynthManifest(BaseModel):
    """Summary of one generated synthetic Korea, stored as ``manifest.json``.

    ``files`` maps each written file (path relative to the output folder, ``/`` separated) to its
    number of data rows (header excluded; for Parquet, table rows; JSON files are not listed).
    ``messy`` counts the injected defects: ``bad_timestamp``, ``unknown_cell``,
    ``blank_subscriber``, ``duplicate_row`` (location-event rows) and ``bad_cell_coords`` (cells).
    """

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    config: SynthConfig
    files: dict[str, int]
    messy: dict[str, int]
    messy_detail: dict[str, dict[str, int]]
    totals: dict[str, int]
    subscribers_by_carrier: dict[str, int]
    cells_by_carrier: dict[str, int]
    root: Path | None = Field(default=None, exclude=True)

    def path(self, relative: str) -> Path:
        """Absolute path of a listed file."""
        if self.root is None:
            raise ValueError("manifest has no root folder")
        return self.root / relative

    @classmethod
    def read(cls, out_dir: Path) -> SynthManifest:
        """Load ``out_dir/manifest.json``."""
        manifest = cls.model_validate_json((Path(out_dir) / "manifest.json").read_text())
        return manifest.model_copy(update={"root": Path(out_dir)})
