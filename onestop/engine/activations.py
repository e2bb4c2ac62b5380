"""Workflow activations run on the worker's event loop, with a watchdog in place of the SDK's deadlock detector.

The SDK runs each workflow activation on a thread of its own pool so that it can time it out. Every activation
then hands the GIL from the event loop to that thread and back, and wakes both: on a loaded two-core machine that
cost more CPU than the workflow code itself (about an eighth of the engine's CPU per application in
bench/applications.py). Our workflows run unsandboxed and never block (no I/O: tests/test_architecture.py,
tests/workflows/test_determinism.py), so an activation is a few hundred microseconds of Python that may as well run
where the worker already is, as the SDK itself does in debug mode.

What the pool also gave is a deadlock detector: an activation still running after two seconds fails its workflow
task. ``Watchdog`` keeps that. A thread looks twice a second; when one activation has run longer than
``ACTIVATION_LIMIT`` it raises ``ActivationOverran`` in the event loop's thread, inside the activation (never
after it: raising and ending both hold one lock, and an activation that ends clears what is still pending), and
the workflow task fails as the SDK's detector would fail it. The worker stays whole; the stuck workflow is retried
from its history.
"""

from __future__ import annotations

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
    """Interrupts an activation that overruns; one per executor, its thread started at the first activation."""

    def __init__(self, limit: Callable[[], float]) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._running: tuple[int, float] | None = None  # (thread id, monotonic start) of the activation running
        self._interrupted = False
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="onestop-activation-watchdog", daemon=True)
            self._thread.start()
        with self._lock:
            self._running = (threading.get_ident(), time.monotonic())
            self._interrupted = False

    def end(self) -> bool:
        """The activation is over; True when it was interrupted (an interrupt not yet delivered is withdrawn)."""
        with self._lock:
            running, self._running = self._running, None
            interrupted, self._interrupted = self._interrupted, False
            if interrupted and running is not None:
                _raise_in(running[0], None)
        return interrupted

    def _watch(self) -> None:
        while True:
            time.sleep(_LOOK_EVERY)
            with self._lock:
                if self._running is None or self._interrupted:
                    continue
                thread_id, started = self._running
                if time.monotonic() - started > self._limit():
                    self._interrupted = True
                    _raise_in(thread_id, _Interrupt)


class InlineActivations(concurrent.futures.Executor):
    """The ``workflow_task_executor`` of our workers: runs each activation at once, in the calling thread.

    As the SDK's debug mode does, the activation runs in a copy of the caller's context and the caller's running
    event loop is restored after it (a workflow instance is an event loop of its own, set as the running one while
    it runs).
    """

    def __init__(self) -> None:
        self.watchdog = Watchdog(lambda: ACTIVATION_LIMIT)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        loop = events._get_running_loop()
        try:
            try:
                self.watchdog.begin()
                result = contextvars.copy_context().run(fn, *args, **kwargs)
            finally:
                try:
                    overran = self.watchdog.end()
                finally:  # also when the interrupt lands just as the activation ends
                    events._set_running_loop(loop)
            if overran:
                raise _Interrupt
            future.set_result(result)
        except _Interrupt:
            future.set_exception(
                ActivationOverran(f"a workflow activation ran longer than {ACTIVATION_LIMIT:g} s and was interrupted")
            )
        except BaseException as exc:  # the SDK reports it as the activation's failure, as from its thread pool
            future.set_exception(exc)
        return future
