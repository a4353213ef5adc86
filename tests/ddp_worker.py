"""Runs under torchrun for tests/test_distributed.py (no test_ prefix: pytest does not collect it).

    python -m torch.distributed.run --nproc_per_node=2 ... tests/ddp_worker.py RESULT_JSON CONFIG_JSON STEPS

Every rank takes part; rank 0 gathers what all ranks found and writes it to RESULT_JSON:

  step   one DDP step with batch b on each of 2 ranks vs one single-process step with batch 2b on the same
         samples (gradients and weights after one Adam step, largest absolute difference);
  train  after Trainer(config).train(STEPS): a hash of each rank's weights, EMA weights, normalisers and
         loss history (all should agree) and of its demonstrations (all should differ).
"""

import hashlib
import json
import os
import sys

import torch
import torch.distributed as dist

from dpedu import Trainer
from dpedu.config import DPConfig
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks import build_network
from dpedu.runtime import distributed
from dpedu.trainer import diffusion_loss


def digest(tensors) -> str:
    h = hashlib.sha256()
    for x in tensors:
        h.update(x.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def one_step(cfg: DPConfig, b: int) -> dict:
    """DDP over the ranks with b samples each vs one process with all world * b samples."""
    world, rank = dist.get_world_size(), dist.get_rank()
    n, obs_dim, act_dim = world * b, 3, 1
    schedule = NoiseSchedule(cfg.n_diffusion_steps, cfg.noise_schedule)
    g = torch.Generator().manual_seed(123)  # the same fixed batch on every rank
    obs = torch.rand(n, cfg.obs_horizon, obs_dim, generator=g) * 2 - 1
    a0 = torch.rand(n, cfg.action_horizon, act_dim, generator=g) * 2 - 1
    k = torch.randint(1, cfg.n_diffusion_steps + 1, (n,), generator=g)
    eps = torch.randn(n, cfg.action_horizon, act_dim, generator=g)

    def fresh():
        torch.manual_seed(0)
        model = build_network(cfg, obs_dim, act_dim)
        return model, torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)

    model, opt = fresh()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    mine = slice(rank * b, (rank + 1) * b)
    diffusion_loss(ddp, schedule, obs[mine], a0[mine], k[mine], eps[mine]).backward()
    ddp_grads = [p.grad.clone() for p in model.parameters()]
    opt.step()

    ref, ref_opt = fresh()
    diffusion_loss(ref, schedule, obs, a0, k, eps).backward()
    ref_grads = [p.grad.clone() for p in ref.parameters()]
    ref_opt.step()

    max_diff = lambda xs, ys: max((x - y).abs().max().item() for x, y in zip(xs, ys))  # noqa: E731
    return {"grad_max_abs_diff": max_diff(ddp_grads, ref_grads),
            "grad_max_abs": max(g.abs().max().item() for g in ref_grads),
            "param_max_abs_diff": max_diff(list(model.parameters()), list(ref.parameters())),
            "param_max_abs_change": max_diff(list(ref.parameters()), list(fresh()[0].parameters()))}


def train(config: dict, steps: int) -> dict:
    trainer = Trainer("diffusion", env="Pendulum-v1", config=config, progress=False)
    metrics = trainer.train(steps)
    return {"rank": trainer.rank, "world_size": trainer.world_size, "n_updates": metrics["n_updates"],
            "weights": digest(trainer.model.parameters()),
            "ema": digest(trainer.ema_model.parameters()),
            "normalizers": digest([trainer.obs_normalizer.low, trainer.obs_normalizer.high,
                                   trainer.act_normalizer.low, trainer.act_normalizer.high]),
            "loss_history": trainer.loss_history,
            "demonstrations": digest([trainer.buffer.all_obs()])}


def main() -> None:
    out, config, steps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    if not distributed.init_distributed():
        raise SystemExit("run me under torchrun with --nproc_per_node >= 2")
    try:
        step = one_step(DPConfig.from_dict(config), b=config["batch_size"])
        found = train(config, steps)
        gathered = [None] * distributed.world_size()
        dist.all_gather_object(gathered, {"step": step, "train": found})
        if distributed.is_main_process():
            with open(out, "w") as f:
                json.dump(gathered, f)
        distributed.barrier()
    except BaseException:
        distributed.cleanup()
        raise
    # Both ranks passed the barrier and rank 0 has written the results: leave without the C++ teardown. On a
    # loaded 2-core machine gloo's threads sometimes abort a process at exit ("terminate called without an active
    # exception", about 1 run in 8, seen before and after the package's own changes), which torchrun reports as
    # a failure of a run that did everything right.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
