"""Ctrl-C (or Jupyter's stop button) that lets a training step finish, so the trainer stays consistent."""

from __future__ import annotations

import signal
import threading


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training at a step boundary: the trainer is consistent and can be saved or trained on.
    (A plain KeyboardInterrupt means a second Ctrl-C stopped it mid-step.)"""


class DeferredInterrupt:
    """Within `with`: the first SIGINT only sets `requested` (the loop stops at a step boundary), a second
    one raises KeyboardInterrupt at once. Outside the main thread signals cannot be caught: a no-op."""

    def __init__(self, enabled: bool = True):
        self.requested, self.enabled = False, enabled
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:  # pressed twice: the learner wants out now
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if self.enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler) or signal.default_int_handler
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
