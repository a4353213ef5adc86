"""Design choices, measured: denoiser architecture and conditioning, and n_action_steps.

    python benchmarks/ablations.py architecture --updates 15000   # plain MLP vs residual vs FiLM, lr 1e-4
    python benchmarks/ablations.py horizon runs/quickstart/policy.pt  # return vs n_action_steps

Each run prints one JSON line per variant. Returns are means over 50 (architecture) or 100 (horizon)
episodes, seed 0; 1 torch thread so variants can be compared on a busy 2-core box.
"""

import argparse
import json
import time

import torch
from torch import nn

import dpedu.trainer
from dpedu import DiffusionPolicy, Trainer
from dpedu.evaluate import evaluate_policy
from dpedu.networks.embedding import SinusoidalEmbedding


class PlainMLP(nn.Module):
    """The straightforward baseline: [x^k, obs, emb(k)] -> n_layers x (Linear, SiLU) -> eps, no norm, no skip."""

    def __init__(self, act_dim, action_horizon, obs_dim, obs_horizon, hidden_dim=256, n_layers=3, time_dim=32):
        super().__init__()
        self.act_shape = (action_horizon, act_dim)
        self.time_embedding = SinusoidalEmbedding(time_dim)
        sizes = [action_horizon * act_dim + obs_horizon * obs_dim + time_dim] + [hidden_dim] * n_layers
        layers = [m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.SiLU())]
        self.net = nn.Sequential(*layers, nn.Linear(hidden_dim, action_horizon * act_dim))

    def forward(self, x_k, k, obs):
        B = x_k.shape[0]
        return self.net(torch.cat([x_k.reshape(B, -1), obs.reshape(B, -1), self.time_embedding(k)], -1)).reshape(
            B, *self.act_shape)


def architecture(updates: int) -> None:
    variants = [("plain MLP", {}, True), ("residual, concat", {}, False),
                ("residual, concat, 2 blocks", {"n_layers": 2}, False),
                ("residual, FiLM", {"conditioning": "film"}, False)]
    build = dpedu.trainer.build_network
    for name, config, plain in variants:
        if plain:
            dpedu.trainer.build_network = lambda c, o, a: PlainMLP(a, c.action_horizon, o, c.obs_horizon,
                                                                     c.hidden_dim, c.n_layers)
        start = time.perf_counter()
        trainer = Trainer("diffusion", seed=42, config=config, progress=False)
        m = trainer.train(updates + trainer.config.warmup_steps)
        wall = time.perf_counter() - start
        policy = DiffusionPolicy(trainer.config, trainer.ema_model, trainer.obs_normalizer, trainer.act_normalizer)
        r = evaluate_policy(policy, n_episodes=50, seed=0, baselines=False)
        dpedu.trainer.build_network = build
        print(json.dumps({"benchmark": "architecture", "variant": name, "config": config, "updates": m["n_updates"],
                          "loss": round(m["loss"], 4), "mean_return": round(r["mean_return"], 1),
                          "ms_per_update": round(1000 * m["update_s"] / m["n_updates"], 2),
                          "wall_s": round(wall, 1)}), flush=True)


def horizon(path: str) -> None:
    policy = DiffusionPolicy.load(path, device="cpu")
    for n in (1, 2, 4, 8):
        policy.configure(n_action_steps=n)
        r = evaluate_policy(policy, n_episodes=100, seed=0, baselines=False)
        print(json.dumps({"benchmark": "n_action_steps", "n_action_steps": n, "mean_return": round(r["mean_return"], 1),
                          "eval_wall_s": r["wall_time_s"]}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("architecture")
    a.add_argument("--updates", type=int, default=15_000)
    h = sub.add_parser("horizon")
    h.add_argument("checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(1)
    architecture(args.updates) if args.what == "architecture" else horizon(args.checkpoint)
