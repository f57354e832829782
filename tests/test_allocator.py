"""The allocator settings take on this machine (Linux, glibc)."""

import os
import subprocess
import sys


def test_settle_sets_the_thresholds_of_glibc():
    # in a process of its own: the settings last for the process
    code = "from spreadwatch import allocator; print(allocator.settle())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True"


def test_settle_gives_arrow_the_system_pool_unless_one_is_chosen():
    code = (
        "from spreadwatch import allocator; allocator.settle(); import pyarrow as pa; "
        "print(pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert chosen.stdout.strip() == "system"
    env["ARROW_DEFAULT_MEMORY_POOL"] = "mimalloc"
    kept = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert kept.stdout.strip() == "mimalloc"


def test_the_pool_is_set_even_after_pyarrow_was_imported():
    code = (
        "import pyarrow as pa; from spreadwatch import allocator; allocator.settle(); "
        "print(pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "system"


def test_the_command_line_settles_before_pyarrow_is_imported():
    """The variable only takes before pyarrow is imported: importing the command line (its
    commands registered) must not import it, nor DuckDB."""
    code = (
        "import sys; import spreadwatch.cli; "
        "print(sorted(m for m in ('pyarrow', 'duckdb') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
