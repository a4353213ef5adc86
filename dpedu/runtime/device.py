"""Which torch device a config's `device` names, checked against what this machine has."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch.device for `name`, refused with a ValueError where this machine lacks it.

        "auto"     CUDA when present, else the CPU
        "cpu"      the CPU
        "cuda"     the current CUDA device; "cuda:N" the N-th (0-based, N < torch.cuda.device_count())
        "mps"      Apple's Metal GPUs (macOS on Apple silicon)

    A torch.device is accepted too and checked the same way.
    """
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (or a torch.device), "
                         f"got {name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but torch sees no CUDA device here; use 'auto' or 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} asked for, but torch sees {torch.cuda.device_count()} CUDA "
                             f"device(s) here (cuda:0..cuda:{torch.cuda.device_count() - 1})")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} asked for, but MPS (Apple's Metal GPUs) is not available here; "
                             "use 'auto' or 'cpu'")
    elif device.type != "cpu":
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {name!r}")
    return device
