"""AdamWithEMA: the gradient update every network in dpedu trains with (the diffusion models, the baselines, the toy
task's networks), and `fit`, a plain loop of such updates. Notebook 04 (the Trainer's update).

Its own module so that the Trainer and every method it trains (dpedu/baselines/) share one update without importing
each other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch


def fused_adam_supported(device_type: str) -> bool:
    """Whether this torch has Adam's fused kernel for `device_type`: CUDA since torch 2.0, CPU since 2.4.
    (fused is the same update, one kernel over all the weights instead of one per tensor.)"""
    if device_type == "cuda":
        return True
    return device_type == "cpu" and torch.__version__ >= "2.4"  # torch.__version__ compares as a version


class AdamWithEMA:
    """Gradient updates of one network: Adam on a loss; optionally gradient clipping, a cosine-decayed
    learning rate (over decay_steps updates) and an exponential moving average of the weights (ema_model).

    theta_ema <- decay theta_ema + (1 - decay) theta after every update, with the decay ramped up as
    min(ema_decay, (1 + n) / (10 + n)) over the first updates (as TensorFlow's ExponentialMovingAverage
    does), so a short run's average is not dominated by the initial weights.
    """

    def __init__(self, model: torch.nn.Module, learning_rate: float, ema_decay: float | None = None,
                 max_grad_norm: float | None = None, decay_steps: int | None = None):
        self.model, self.ema_decay, self.max_grad_norm = model, ema_decay, max_grad_norm
        device_type = next(model.parameters()).device.type
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate,
                                          fused=fused_adam_supported(device_type))
        self.lr_schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=decay_steps)
                            if decay_steps else None)
        self.ema_model = None if ema_decay is None else copy.deepcopy(model).requires_grad_(False)
        self._params = list(model.parameters())
        self._ema_params = None if self.ema_model is None else list(self.ema_model.parameters())
        self.n_updates = 0

    def update(self, loss: torch.Tensor) -> None:
        """One gradient step on `loss`, then the EMA."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm)
        self.optimizer.step()
        if self.lr_schedule is not None:
            self.lr_schedule.step()
        if self.ema_model is not None:
            decay = min(self.ema_decay, (1 + self.n_updates) / (10 + self.n_updates))
            with torch.no_grad():
                torch._foreach_lerp_(self._ema_params, self._params, 1.0 - decay)  # all weights in one fused op
        self.n_updates += 1

    def state_dict(self) -> dict:
        """The optimiser's moments, the learning-rate schedule, the EMA weights (CPU copies) and the update count.
        The network's own weights belong to whoever owns the network."""
        # The optimiser's state_dict holds its live moment tensors: copied, so later updates leave this state as is.
        return {"optimizer": _cpu_copy(self.optimizer.state_dict()),
                "lr_schedule": None if self.lr_schedule is None else self.lr_schedule.state_dict(),
                "ema_model": None if self.ema_model is None else _cpu_weights(self.ema_model),
                "n_updates": self.n_updates}

    def load_state_dict(self, state: dict) -> None:
        for key, mine in (("lr_schedule", self.lr_schedule), ("ema_model", self.ema_model)):
            if (state[key] is None) != (mine is None):
                raise ValueError(f"the state {'has' if mine is None else 'has no'} {key} and this AdamWithEMA "
                                 f"{'has none' if mine is None else 'has one'}")
        n_updates = state["n_updates"]
        if isinstance(n_updates, bool) or not isinstance(n_updates, int) or n_updates < 0:
            raise ValueError(f"n_updates must be an int >= 0, found {n_updates!r}")
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_schedule is not None:
            self.lr_schedule.load_state_dict(state["lr_schedule"])
        if self.ema_model is not None:
            self.ema_model.load_state_dict(state["ema_model"])
        self.n_updates = n_updates


def _cpu_copy(obj):
    """obj with every tensor in its dicts, lists and tuples replaced by a CPU copy."""
    if torch.is_tensor(obj):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


def _cpu_weights(module: torch.nn.Module) -> dict:
    """A module's weights as CPU copies (a state loads on any device, and later updates do not change it)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def fit(updater: AdamWithEMA, loss_fn: Callable[..., torch.Tensor], sample_batch: Callable[[], tuple],
        n_updates: int) -> list[float]:
    """n_updates of updater.update(loss_fn(*sample_batch())) on a fixed data set; the loss of every update."""
    losses = []
    for _ in range(n_updates):
        loss = loss_fn(*sample_batch())
        updater.update(loss)
        losses.append(loss.item())
    return losses
