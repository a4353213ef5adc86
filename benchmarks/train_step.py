"""Training throughput: one gradient update at the reference defaults, against its FLOP floor and a naive step.

    python benchmarks/train_step.py                  # 2 torch threads, reference defaults
    python benchmarks/train_step.py --threads 1 --set n_layers=2 --compile
    python benchmarks/train_step.py --profile        # where an update's time goes, op by op (torch.profiler)

Variants are timed in one process, interleaved round by round (this box is noisy), median of the rounds:
  dpedu          Trainer.update: one gather per batch, fused Adam, one foreach lerp for the EMA
  straightforward the same network and loss, but the batch built sample by sample in Python from a
                 list of episodes, Adam with per-parameter kernels, the EMA a Python loop over parameters
  compiled       (--compile) dpedu's update with torch.compile(model); its compile time is reported
Also the parts of dpedu's update timed alone (batch, forward + backward, Adam step, EMA).
The FLOP floor counts the matmul FLOPs of one forward + backward (torch.utils.flop_counter) and divides
by the machine's fp32 matmul rate, measured here as the best of large square matmuls at the same threads
(and by the nominal 300 GFLOP/s of the issue). Prints one JSON line.
"""

import argparse
import copy
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dpedu import Trainer
from dpedu.trainer import diffusion_loss

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--rounds", type=int, default=15)
parser.add_argument("--updates", type=int, default=40, help="updates per variant per round")
parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (int/float)")
parser.add_argument("--compile", action="store_true", help="also time torch.compile(model)")
parser.add_argument("--profile", action="store_true",
                    help="also torch.profiler over 100 updates: self CPU ms per update of the 12 costliest ops")
args = parser.parse_args()
torch.set_num_threads(args.threads)
overrides = {k: (int(v) if v.lstrip("-").isdigit() else float(v)) for k, v in (s.split("=") for s in args.set)}

trainer = Trainer("diffusion", env="Pendulum-v1", seed=42, config=overrides, progress=False)
trainer.train(trainer.config.warmup_steps + 200)  # fills the buffer past warm-up; normalisers fitted
cfg = trainer.config


class Straightforward:
    """The same step written the obvious way (what the issue's "about 14 ms" refers to)."""

    def __init__(self, source: Trainer):
        self.src = source
        self.model = copy.deepcopy(source.model)
        self.ema = copy.deepcopy(source.model).requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate, foreach=False)
        n = len(source.buffer)
        obs, act = source.buffer.obs[:n].numpy(), source.buffer.act[:n].numpy()
        first, last = source.buffer.first[:n].numpy(), source.buffer.last[:n].numpy()
        self.episodes = [(obs[a:b + 1], act[a:b + 1]) for a, b in sorted(set(zip(first, last)))]
        self.rng = np.random.default_rng(0)

    def batch(self):
        obs_b, act_b = [], []
        for _ in range(cfg.batch_size):  # per sample: pick an episode and a step, slice the windows
            o, a = self.episodes[self.rng.integers(len(self.episodes))]
            t = int(self.rng.integers(len(o)))
            obs_b.append([o[max(t - k, 0)] for k in range(cfg.obs_horizon - 1, -1, -1)])
            act_b.append([a[min(t + k, len(a) - 1)] for k in range(cfg.action_horizon)])
        obs = torch.tensor(np.array(obs_b), dtype=torch.float32)
        act = torch.tensor(np.array(act_b), dtype=torch.float32)
        return self.src.obs_normalizer.normalize(obs), self.src.act_normalizer.normalize(act)

    def update(self):
        obs, a0 = self.batch()
        k = torch.randint(1, cfg.n_diffusion_steps + 1, (cfg.batch_size,))
        eps = torch.randn_like(a0)
        loss = F.mse_loss(self.model(self.src.schedule.add_noise(a0, k, eps), k, obs), eps)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            for p_ema, p in zip(self.ema.parameters(), self.model.parameters()):
                p_ema.mul_(cfg.ema_decay).add_(p, alpha=1 - cfg.ema_decay)


def matmul_peak_gflops() -> float:
    best = 0.0
    for n in (512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        best = max(best, 2 * n**3 / min(times) / 1e9)
    return best


def update_flops(model) -> int:
    obs, actions = trainer.buffer.sample(cfg.batch_size, cfg.obs_horizon, cfg.action_horizon, trainer.generator)
    a0 = trainer.act_normalizer.normalize(actions)
    k = torch.randint(1, cfg.n_diffusion_steps + 1, (cfg.batch_size,))
    with FlopCounterMode(display=False) as counter:
        diffusion_loss(model, trainer.schedule, trainer.obs_normalizer.normalize(obs), a0, k, torch.randn_like(a0))\
            .backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


variants = {"dpedu": trainer.update, "straightforward": Straightforward(trainer).update}
compile_s = None
if args.compile:
    compiled = Trainer("diffusion", env="Pendulum-v1", seed=42, config=overrides, progress=False)
    compiled.train(cfg.warmup_steps + 1)
    compiled.ddp_model = torch.compile(compiled.model)
    t0 = time.perf_counter()
    compiled.update()
    compiled.update()
    compile_s = round(time.perf_counter() - t0, 1)
    variants["compiled"] = compiled.update

for update in variants.values():  # warm up caches and allocator
    for _ in range(10):
        update()
per_round = {name: [] for name in variants}
for _ in range(args.rounds):
    for name, update in variants.items():
        t0 = time.perf_counter()
        for _ in range(args.updates):
            update()
        per_round[name].append((time.perf_counter() - t0) / args.updates * 1e3)
ms = {name: round(statistics.median(v), 3) for name, v in per_round.items()}

# Where the time of dpedu's update goes: its parts timed alone, medians (same process, after the rounds).
def part_ms(fn, n=200) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e3, 3)


def batch():
    obs, actions = trainer.buffer.sample(cfg.batch_size, cfg.obs_horizon, cfg.action_horizon, trainer.generator)
    a0 = trainer.act_normalizer.normalize(actions)
    k = torch.randint(1, cfg.n_diffusion_steps + 1, (cfg.batch_size,), generator=trainer.generator)
    return trainer.obs_normalizer.normalize(obs), a0, k, torch.randn(a0.shape, generator=trainer.generator)


fixed = batch()


def forward_backward():
    trainer.optimizer.zero_grad(set_to_none=True)
    diffusion_loss(trainer.model, trainer.schedule, *fixed).backward()


def ema_step():
    with torch.no_grad():
        torch._foreach_lerp_(trainer.updater._ema_params, trainer.updater._params, 1.0 - cfg.ema_decay)


forward_backward()
breakdown = {"batch": part_ms(batch), "forward_backward": part_ms(forward_backward),
             "adam_step": part_ms(trainer.optimizer.step), "ema": part_ms(ema_step)}

profile_ms = None
if args.profile:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(100):
            trainer.update()
    ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    profile_ms = {"total": round(sum(e.self_cpu_time_total for e in ops) / 100e3, 3),
                  **{e.key: round(e.self_cpu_time_total / 100e3, 3) for e in ops[:12]}}

flops = update_flops(trainer.model)
peak = matmul_peak_gflops()
floor_measured, floor_nominal = flops / peak / 1e6, flops / 300e9 * 1e3
print(json.dumps({
    "benchmark": "train_step", "threads": args.threads, "config": overrides or "reference defaults",
    "hidden_dim": cfg.hidden_dim, "n_layers": cfg.n_layers, "batch_size": cfg.batch_size,
    "update_ms": ms, "updates_per_s": round(1e3 / ms["dpedu"], 1),
    "speedup_vs_straightforward": round(ms["straightforward"] / ms["dpedu"], 2),
    "mflop_per_update": round(flops / 1e6, 1), "matmul_peak_gflops": round(peak, 1),
    "floor_ms": {"measured_peak": round(floor_measured, 3), "nominal_300_gflops": round(floor_nominal, 3)},
    "ratio_to_floor": {"measured_peak": round(ms["dpedu"] / floor_measured, 2),
                       "nominal_300_gflops": round(ms["dpedu"] / floor_nominal, 2)},
    "breakdown_ms": breakdown, "forward_backward_at_peak_ms": round(flops / peak / 1e6, 3),
    "compile_s": compile_s, "rounds": args.rounds, "updates_per_round": args.updates, "profile_ms": profile_ms,
}))
