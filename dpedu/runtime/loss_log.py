"""The training loss, logged without slowing training: the last `interval` losses stay on the device (one
host sync per interval, not per update), their means form the loss history, and a non-finite loss stops
training with the update it happened at."""

from __future__ import annotations

import math

import torch

from dpedu.runtime import distributed

LOG_INTERVAL = 100  # updates per entry of the loss history (and per NaN check); metrics' loss averages as many


class LossLog:
    def __init__(self, device: torch.device, learning_rate: float, interval: int = LOG_INTERVAL,
                 max_grad_norm: float | None = None):
        # learning_rate and max_grad_norm only serve the advice of the non-finite-loss message.
        self.interval, self.learning_rate, self.max_grad_norm = interval, learning_rate, max_grad_norm
        self.history: list[tuple[int, float]] = []  # (updates so far, mean loss of the last interval)
        self.recent = torch.zeros(interval, device=device)  # a ring of the last `interval` losses

    def record(self, loss: torch.Tensor, n_updates: int) -> None:
        """Log the loss of update number n_updates (counting from 1)."""
        k = (n_updates - 1) % self.interval
        self.recent[k] = loss.detach()
        if k == self.interval - 1:
            # With several ranks log the mean over the ranks; a NaN on any rank stops them all at once.
            distributed.all_reduce_(self.recent, "mean")
            self.history.append((n_updates, self.mean_of_newest(self.interval, n_updates)))

    def mean_of_newest(self, n: int, n_updates: int) -> float:
        """Mean of the newest n losses in the ring; stops training at a non-finite one. One host sync."""
        ring = self.recent.tolist()
        end = n_updates % self.interval or self.interval
        losses = (ring[end:] + ring[:end])[-n:]  # oldest first
        bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
        if bad:
            step = n_updates - n + bad[0] + 1
            clip = ("max_grad_norm=1.0 (gradient clipping is off)" if self.max_grad_norm is None
                    else f"a smaller max_grad_norm than {self.max_grad_norm}")
            raise FloatingPointError(
                f"the training loss became {losses[bad[0]]} at gradient update {step} (seen at update {n_updates}: "
                f"losses are checked every {self.interval} updates), so training stopped; the updates since then "
                f"have likely made the weights non-finite too, so start again from a new Trainer or a checkpoint "
                f"saved before. To try: a "
                f"learning_rate lower than {self.learning_rate:g} (e.g. {self.learning_rate / 10:g}), "
                f"{clip}, and check that the demonstrations are finite")
        return sum(losses) / n

    def state_dict(self) -> dict:
        return {"loss_history": [list(entry) for entry in self.history],
                "recent_losses": self.recent.to("cpu", copy=True)}  # a copy: the ring keeps changing

    def load_state_dict(self, state: dict) -> None:
        recent = state["recent_losses"]
        if not torch.is_tensor(recent) or recent.shape != self.recent.shape:
            found = tuple(recent.shape) if torch.is_tensor(recent) else type(recent).__name__
            raise ValueError(f"recent_losses must be a tensor of shape ({self.interval},), found {found}")
        self.history = [tuple(entry) for entry in state["loss_history"]]
        self.recent.copy_(recent)
