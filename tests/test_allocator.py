"""The allocator settings take on this machine (Linux, glibc). Each check runs in a process of
its own: the settings last for the process."""

import os
import subprocess
import sys

import pytest

_SETTLE = "from spreadwatch import allocator; allocator.settle()"
_POOL = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"


def _printed(code: str, pool: str | None = None) -> str:
    """What ``code`` prints in a new process, ``$ARROW_DEFAULT_MEMORY_POOL`` set to ``pool``."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = pool
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_settle_sets_the_thresholds_of_glibc():
    assert _printed("from spreadwatch import allocator; print(allocator.settle())") == "True"


@pytest.mark.parametrize(
    ("code", "pool", "expected"),
    [
        (f"{_SETTLE}; {_POOL}", None, "system"),
        (f"{_SETTLE}; {_POOL}", "mimalloc", "mimalloc"),  # the user's choice is kept
        (f"import pyarrow; {_SETTLE}; {_POOL}", None, "system"),  # imported before: set anyway
    ],
    ids=["system", "chosen", "imported-before"],
)
def test_settle_gives_arrow_the_system_pool_unless_one_is_chosen(code, pool, expected):
    assert _printed(code, pool) == expected


def test_the_command_line_settles_before_pyarrow_is_imported():
    """The variable only takes before pyarrow is imported: importing the command line (its
    commands registered) must not import it, nor DuckDB."""
    code = (
        "import sys; import spreadwatch.cli; "
        "print(sorted(m for m in ('pyarrow', 'duckdb') if m in sys.modules))"
    )
    assert _printed(code) == "[]"
