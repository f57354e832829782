"""The allocator settings take on this machine (Linux, glibc)."""

import subprocess
import sys


def test_settle_sets_the_thresholds_of_glibc():
    # in a process of its own: the settings last for the process
    code = "from spreadwatch import allocator; print(allocator.settle())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True"
