"""Keep the C allocator from holding on to memory the process has freed.

glibc's malloc serves allocations below its mmap threshold from heaps per thread ("arenas"),
and raises that threshold (up to 32 MiB) each time a larger block is freed. A long ingest
allocates and frees arrays of a few MB on five threads: left alone, the arenas keep hundreds
of MB freed but not returned (measured on two days of a carrier's events: 2.45 GB peak; 2.0 GB
with the settings below, no slower). Blocks of 4 MiB and more are then mapped on their own and
returned when freed, and at most two arenas are made.

Setting the mmap threshold also fixes the trim threshold, the free room at the top of a heap
beyond which it is handed back to the system, at 128 KiB: an ingest then hands back and faults
in again the same pages chunk after chunk (a 4-million-event ingest took some 150,000 page
faults and a fifth of its CPU time in the kernel). Up to 32 MiB of free room per arena is kept
instead (64 MiB in all): 65,000 faults, and the ingest 10-15% faster.

Arrow's buffers are taken from the same allocator (its ``system`` pool) rather than from its
bundled mimalloc, which hands freed pages back within milliseconds and faults them in again
as huge pages: a tenth of that ingest's CPU time went to clearing them; with the system pool
its kernel time halved and it ran some 5% faster. ``$ARROW_DEFAULT_MEMORY_POOL``, when set,
is left as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024
ARENAS = 2


#: Arrow reads its default pool from this variable when pyarrow is imported.
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def settle() -> bool:
    """Set the thresholds above (glibc only; elsewhere nothing is done): whether they were.
    Arrow's pool is chosen through :data:`ARROW_POOL_ENV` before pyarrow is imported (the
    command line calls this first thing), or set directly when it was imported already."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if ARROW_POOL_ENV not in os.environ:
        os.environ[ARROW_POOL_ENV] = "system"
        if "pyarrow" in sys.modules:  # too late for the variable: its pool was chosen
            import pyarrow as pa

            pa.set_memory_pool(pa.system_memory_pool())
    settings = (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (_M_ARENA_MAX, ARENAS),
    )
    return all([bool(mallopt(parameter, value)) for parameter, value in settings])
