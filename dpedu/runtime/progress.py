"""What surrounds Trainer.train's loop without being the algorithm: the progress bar, Ctrl-C at a step
boundary, and the time spent collecting and updating."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

from dpedu.runtime import distributed
from dpedu.runtime.interrupt import DeferredInterrupt, TrainingInterrupted


class TrainingRun:
    """`for step in run.steps(): ...` over total_timesteps environment steps (or, with unit="update", updates).

    Shows a tqdm bar (rank 0 only) refreshed every 100 steps with `postfix()`, and defers Ctrl-C to the end
    of the current step: the loop stops there and leaving the `with` raises KeyboardInterrupt saying how to
    finish the run (`finish` with the steps left). A second Ctrl-C stops at once. Not under torchrun: one rank
    stopping alone would leave the others waiting in a collective.
    """

    def __init__(self, total_timesteps: int, timings: dict, show: bool, postfix: Callable[[], dict],
                 unit: str = "step", finish: str = "train({})"):
        self.total, self.timings, self.postfix = total_timesteps, timings, postfix
        self.unit, self.finish = unit, finish
        self.bar = tqdm(total=total_timesteps, unit=unit, desc="train", smoothing=0.05,
                        disable=not show or distributed.rank() != 0)
        self.interrupt = DeferredInterrupt(enabled=distributed.world_size() == 1)
        self.done, self.start = 0, time.perf_counter()

    def __enter__(self) -> TrainingRun:
        self.interrupt.__enter__()
        return self

    def steps(self) -> Iterator[int]:
        for done in range(1, self.total + 1):
            self.done = done
            yield done
            if self.done % 100 == 0 or self.done == self.total or self.interrupt.requested:
                self.bar.update(self.done - self.bar.n)
                self.bar.set_postfix(self.postfix(), refresh=False)
            if self.interrupt.requested:
                return

    @contextmanager
    def timed(self, key: str):
        start = time.perf_counter()
        yield
        self.timings[key] += time.perf_counter() - start

    @property
    def wall_time_s(self) -> float:
        return time.perf_counter() - self.start

    def __exit__(self, exc_type, exc, tb) -> None:
        self.interrupt.__exit__(exc_type, exc, tb)
        self.bar.close()
        if exc_type is None and self.interrupt.requested and self.done < self.total:
            raise TrainingInterrupted(
                f"training interrupted after {self.done} of {self.total} {self.unit}s; the trainer is consistent: "
                f"{self.finish.format(self.total - self.done)} finishes the run")
