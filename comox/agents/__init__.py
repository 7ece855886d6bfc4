"""Stateful agents: persona, short-term window, long-term vector and graph memory.

numpy's BLAS would start one busy-waiting thread per core for the 10,000 x 384 products of
retrieval; next to the event loop and the embedding model's own threads that oversubscribes
the cores (p95 of memory assembly 560 ms instead of 28 ms on 2 cores, bench/memory/README.md).
A matrix-vector product of this size is memory-bound, so one BLAS thread loses nothing.
Set before numpy is first imported; an operator's own setting wins.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
