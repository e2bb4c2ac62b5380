"""The cyclic garbage collector in a long-running engine process.

Start-up leaves a quarter of a million objects that live as long as the process (modules, the catalogue and its
index, pydantic and SQLAlchemy schemas, the GraphQL schema). CPython's collector walks them all at every full
collection, about 0.2 s of CPU on the event loop each time, to free nothing; such a collection came every few
hundred applications, as workflows cached by the worker and other survivors piled up. ``settle`` freezes them
once start-up is done, so collections walk only what was made since. The catalogue reload freezes its new objects
the same way (``catalogue_store``).

It also collects the youngest generation less often: most of what a request or a workflow activation makes is
freed by reference counting within milliseconds, and passes every 700 net allocations (CPython's default) walked
objects still in use to free little (1-2 ms of CPU per application, see bench/applications.py).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations of tracked objects between two collections of the youngest generation (CPython's default: 700)."""


def settle() -> None:
    """Once start-up is done: collect what start-up left as garbage, freeze what survives, and collect the youngest
    generation every ``YOUNG_THRESHOLD`` allocations. Objects frozen are never collected by the cycle collector;
    reference counting still frees them, so what start-up built and later drops must hold no reference cycles (the
    catalogue holds none: tests/engine/test_catalogue_reuse.py)."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
