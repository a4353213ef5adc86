"""Data-parallel training over several processes with torch.distributed, as launched by torchrun.

    torchrun --nproc_per_node=N -m dpedu train --total-timesteps 50000 --out runs/ddp

torchrun starts N copies of the program and tells each one its place in environment variables: RANK
(0..N-1 over all machines), LOCAL_RANK (0.. on this machine) and WORLD_SIZE (N). `init_distributed()`
reads them and joins the process group: NCCL for CUDA tensors (each process on GPU LOCAL_RANK), gloo for
CPU tensors. In an ordinary single process nothing is initialised and every helper here gives the
single-process answer (rank 0 of 1, the main process, barrier and all_reduce do nothing), so the same code
runs both ways and a single process behaves exactly as if this module did not exist.

What `Trainer` does with several ranks (through the helpers at the end of this module):

- every rank collects its own demonstrations, seeded `seed + rank * RANK_SEED_STRIDE` (rank 0 keeps
  `seed`), and samples its own batches and noise from a generator seeded the same way;
- every rank builds the network from the same `seed`, and DistributedDataParallel averages the gradients
  of each update, so the weights (and their EMA) stay identical on every rank;
- one gradient update therefore sees a global batch of `world_size * batch_size` samples;
- the normalisers are fitted to the minimum and maximum over all ranks' buffers, so all ranks agree;
- only rank 0 shows a progress bar, and the CLI writes files and prints on rank 0 only.

Every rank must make the same collective calls in the same order. The trainer's rule (updates start once
`warmup_steps` steps are collected and an episode has ended) must therefore hold at the same step on every
rank; episodes end at different steps on different ranks (dpedu/Detour-v0's do), so until the first update
the ranks agree on "an episode has ended" with `every_rank`.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

# Rank r collects with seed + r * RANK_SEED_STRIDE: far apart, so runs with nearby seeds (seed, seed + 1, ...)
# do not reuse each other's demonstrations on another rank.
RANK_SEED_STRIDE = 1_000_003

_OPS = {"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}


def init_distributed(backend: str | None = None) -> bool:
    """Join the process group torchrun describes in the environment; True if this is a multi-process run.

    A no-op returning False when WORLD_SIZE is unset or 1 (a plain `python` run) or the group already
    exists. backend: default "cpu:gloo,cuda:nccl" when CUDA is present (NCCL for GPU tensors, gloo for CPU
    ones), else "gloo". With CUDA, this process's default GPU becomes cuda:LOCAL_RANK.
    """
    if dist.is_initialized():
        return is_distributed()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend or ("cpu:gloo,cuda:nccl" if cuda else "gloo"))
    return is_distributed()


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 in a single process)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 in a single process)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0, the process that writes files, prints and shows progress bars."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for in a single process)."""
    if is_distributed():
        dist.barrier()


def all_reduce_(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce `tensor` over the ranks in place ("sum", "mean", "min" or "max") and return it.

    Unchanged in a single process. The tensor must be on this rank's device (CPU for gloo, CUDA for NCCL).
    """
    if op not in (*_OPS, "mean"):
        raise ValueError(f"op must be one of 'sum', 'mean', 'min', 'max', got {op!r}")
    if is_distributed():
        dist.all_reduce(tensor, _OPS["sum" if op == "mean" else op])
        if op == "mean":
            tensor.div_(dist.get_world_size())
    return tensor


def cleanup() -> None:
    """Leave the process group (a no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---- the Trainer's uses, so that trainer.py holds no rank logic ----

def data_seed(seed: int) -> int:
    """The seed of this rank's demonstrations, batches and noise: seed + rank * RANK_SEED_STRIDE (seed on rank 0)."""
    return seed + rank() * RANK_SEED_STRIDE


def rank_device(device: torch.device) -> torch.device:
    """A bare "cuda" becomes this rank's GPU (cuda:LOCAL_RANK, set by init_distributed) under torchrun."""
    if world_size() > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module to run forward passes through: a DistributedDataParallel wrapper with several ranks (it
    broadcasts rank 0's weights now and averages the gradients in every backward), the model itself in one
    process. The wrapped model stays the plain module, so its state_dicts carry no "module." prefix."""
    if world_size() == 1:
        return model
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    ddp.broadcast_buffers = False  # the only buffers are constants: no re-send every forward
    return ddp


def every_rank(flag: bool) -> bool:
    """True if `flag` is True on every rank (one all-reduce); the flag itself in a single process."""
    if world_size() == 1:
        return flag
    return bool(all_reduce_(torch.tensor([float(flag)]), "min").item())


def same_on_every_rank(normalizer):
    """A Normalizer covering every rank's data (min of the lows, max of the highs), so all ranks agree."""
    if world_size() == 1:
        return normalizer
    return type(normalizer)(all_reduce_(normalizer.low.clone(), "min"), all_reduce_(normalizer.high.clone(), "max"))
