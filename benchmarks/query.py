"""Policy query latency and evaluation throughput of a trained policy.

    python benchmarks/query.py runs/quickstart/policy.pt            # 2 torch threads
    python benchmarks/query.py runs/quickstart/policy.pt --threads 1 --envs 1 10 100

Measures, medians over repeated calls:
  predict_chunk_ms   one plan (n_inference_steps denoising steps) at batch 1, as `predict_chunk` is called
                     (normalising, Sampler.sample with the model, un-normalising)
  plan_ms            the sampling alone (Sampler.sample with the model), at batch 1 and 100, medians of --rounds
                     rounds
  act_ms_per_step    `act` over whole episodes at batch 1: the amortised cost per environment step with the
                     policy's n_action_steps (a plan every n_action_steps steps)
  step_parts_us      one denoising step and its parts: the network's forward, a residual block, the timestep
                     embedding, the sampler's step (its arithmetic), in microseconds
  episodes_per_s     full 200-step Pendulum episodes per second with N environments stepped together
                     (`evaluate.rollout_returns`, one batched plan for all N), environment time included
Prints one JSON line.
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch

from dpedu import DiffusionPolicy
from dpedu.evaluate import rollout_returns

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("checkpoint")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--envs", type=int, nargs="+", default=[1, 10, 100])
parser.add_argument("--rounds", type=int, default=5, help="rounds of the plan timing (median of their medians)")
parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="inference setting, e.g. n_inference_steps=5 (int values)")
args = parser.parse_args()
torch.set_num_threads(args.threads)

policy = DiffusionPolicy.load(args.checkpoint)
if args.set:
    policy.configure(**{k: int(v) for k, v in (s.split("=") for s in args.set)})
cfg = policy.config
obs_history = np.zeros((1, cfg.obs_horizon, policy.obs_dim), np.float32)
obs_history[..., 0] = -1.0  # hanging down


def median_ms(fn, repeats: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


query_ms = median_ms(lambda: policy.predict_chunk(obs_history), 500)

# The sampling alone: the sampler's loop over its step with the network's modules (what act() runs).
plan_ms = {}
for batch in (1, 100):
    obs_b = policy.obs_normalizer.normalize(torch.from_numpy(np.repeat(obs_history, batch, axis=0)))
    shape = (batch, cfg.action_horizon, policy.act_dim)
    def plan(shape=shape, obs_b=obs_b):
        return policy.sampler.sample(policy.model, shape, obs_b, policy.generator)

    rounds = [median_ms(plan, 300 if batch == 1 else 50) for _ in range(args.rounds)]
    plan_ms[batch] = round(statistics.median(rounds), 3)


def episode_steps() -> None:
    policy.reset()
    for _ in range(200):
        policy.act(obs_history[0, -1])


act_ms = median_ms(episode_steps, 10, warmup=1) / 200

# One denoising step at batch 1, and its parts (the module's own calls, timed alone).
model, x = policy.model, torch.zeros(1, cfg.action_horizon, policy.act_dim)
with torch.inference_mode():
    obs_n = policy.obs_normalizer.normalize(torch.from_numpy(obs_history))
    k, eps = torch.full((1,), cfg.n_diffusion_steps), torch.zeros_like(x)
    h = torch.zeros(1, cfg.hidden_dim)
    sampler = policy.sampler
    k1, s1 = sampler.steps[1]
    noise = torch.zeros_like(x)
    step_us = {
        "network": median_ms(lambda: model(x, k, obs_n), 2000) * 1e3,
        "residual_block": median_ms(lambda: model.blocks[0](h), 2000) * 1e3,
        "time_embedding": median_ms(lambda: model.time_embedding(k), 2000) * 1e3,
        "sampler_step": median_ms(lambda: sampler.step(x, eps, k1, s1, noise), 2000) * 1e3,
    }

throughput = {}
for n in args.envs:
    n_episodes = max(n, 10)
    t0 = time.perf_counter()
    rollout_returns(policy, policy.env_id or "Pendulum-v1", n_episodes=n_episodes, seed=0, n_envs=n)
    throughput[n] = round(n_episodes / (time.perf_counter() - t0), 2)

print(json.dumps({
    "benchmark": "query", "threads": args.threads, "sampler": cfg.sampler, "n_inference_steps": cfg.n_inference_steps,
    "n_action_steps": cfg.n_action_steps, "hidden_dim": cfg.hidden_dim, "n_layers": cfg.n_layers,
    "predict_chunk_ms": round(query_ms, 3), "plan_ms": plan_ms, "act_ms_per_step": round(act_ms, 3),
    "episodes_per_s": throughput, "step_parts_us": {k: round(v, 1) for k, v in step_us.items()},
}))
