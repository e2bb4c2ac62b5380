"""Workflow activations run on the worker's event loop, with a watchdog in place of the SDK's deadlock detector.

The SDK runs each workflow activation on a thread of its own pool so that it can time it out. Every activation
then hands the GIL from the event loop to that thread and back, and wakes both: on a loaded two-core machine about
0.1-0.2 ms of CPU per activation, 1-2 ms per bare application of nine activations (the baseline workflow of
bench/applications.py, paired rounds in one process). Our workflows run unsandboxed and never block (no I/O:
tests/test_architecture.py, tests/workflows/test_determinism.py), so an activation is a few hundred microseconds of
Python that may as well run where the worker already is, as the SDK itself does in debug mode.

What the pool also gave is a deadlock detector: an activation still running after two seconds fails its workflow
task. ``Watchdog`` keeps that. A thread looks twice a second; when one activation has run longer than
``ACTIVATION_LIMIT`` it raises ``ActivationOverran`` in the event loop's thread, inside the activation (never
after it: raising and ending both hold one lock, and an activation that ends clears what is still pending), and
the workflow task fails as the SDK's detector would fail it. The worker stays whole; the stuck workflow is retried
from its history.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import ctypes
import threading
import time
from asyncio import events
from collections.abc import Callable
from typing import Any

ACTIVATION_LIMIT = 2.0
"""Seconds one activation may run before its workflow task is failed (the SDK's own deadlock timeout)."""

_LOOK_EVERY = 0.5  # seconds between the watchdog's looks: idle, it costs two wake-ups a second


class ActivationOverran(Exception):
    """A workflow activation ran longer than ``ACTIVATION_LIMIT`` (code that never yields, such as a loop that
    never ends) and was interrupted; its workflow task fails and is retried from history."""


class _Interrupt(BaseException):
    """Raised inside the overrunning activation. A BaseException, so the workflow code it lands in cannot catch
    it as an ordinary error and carry on; ``InlineActivations`` turns it into ``ActivationOverran``."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    # CPython's documented way to raise in another thread (None clears a pending one); the SDK's deadlock
    # detector uses the same call.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class Watchdog:
    """Interrupts an activation that overruns. One for the process (every worker's executor shares it, so a worker
    per sandbox adds no thread); its thread starts with the first activation."""

    def __init__(self, limit: Callable[[], float]) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}  # thread id -> monotonic start of the activation running there
        self._interrupted: set[int] = set()
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="onestop-activation-watchdog", daemon=True)
                self._thread.start()
            thread_id = threading.get_ident()
            self._running[thread_id] = time.monotonic()
            self._interrupted.discard(thread_id)

    def end(self) -> bool:
        """The activation is over; True when it was interrupted (an interrupt not yet delivered is withdrawn)."""
        thread_id = threading.get_ident()
        with self._lock:
            self._running.pop(thread_id, None)
            interrupted = thread_id in self._interrupted
            if interrupted:
                self._interrupted.discard(thread_id)
                _raise_in(thread_id, None)
        return interrupted

    def _watch(self) -> None:
        while True:
            time.sleep(_LOOK_EVERY)
            now = time.monotonic()
            with self._lock:
                for thread_id, started in self._running.items():
                    if thread_id not in self._interrupted and now - started > self._limit():
                        self._interrupted.add(thread_id)
                        _raise_in(thread_id, _Interrupt)


WATCHDOG = Watchdog(lambda: ACTIVATION_LIMIT)


class InlineActivations(concurrent.futures.Executor):
    """The ``workflow_task_executor`` of our workers: runs each activation at once, in the calling thread.

    As the SDK's debug mode does, the activation runs in a copy of the caller's context and the caller's running
    event loop is restored after it (a workflow instance is an event loop of its own, set as the running one while
    it runs).
    """

    def __init__(self, watchdog: Watchdog = WATCHDOG) -> None:
        self.watchdog = watchdog

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Runs ``fn`` now. Called on an event loop (the SDK's ``run_in_executor``), the answer is a future of that
        loop, already done: ``run_in_executor`` takes it as it is, where a ``concurrent.futures.Future`` is chained
        to a new one through ``call_soon_threadsafe``, a wake-up of the loop through its self-pipe even though it
        is done (about 10 us of CPU per activation)."""
        loop = events._get_running_loop()
        outcome: Any = None
        failure: BaseException | None = None
        try:
            try:
                self.watchdog.begin()
                outcome = contextvars.copy_context().run(fn, *args, **kwargs)
            finally:
                try:
                    overran = self.watchdog.end()
                finally:  # also when the interrupt lands just as the activation ends
                    events._set_running_loop(loop)
            if overran:
                raise _Interrupt
        except _Interrupt:
            failure = ActivationOverran(f"a workflow activation ran longer than {ACTIVATION_LIMIT:g} s and was "
                                        "interrupted")
        except StopIteration as exc:  # which an asyncio future refuses to hold
            failure = RuntimeError(f"a workflow activation raised StopIteration: {exc}")
        except BaseException as exc:  # the SDK reports it as the activation's failure, as from its thread pool
            failure = exc
        future: concurrent.futures.Future[Any] | asyncio.Future[Any] = \
            concurrent.futures.Future() if loop is None else loop.create_future()
        if failure is None:
            future.set_result(outcome)
        else:
            future.set_exception(failure)
        return future  # type: ignore[return-value]  # an asyncio future on a loop: run_in_executor's own kind
