"""Command line: python -m dpedu train | evaluate | config.

    python -m dpedu train --env Pendulum-v1 --total-timesteps 50000 --set hidden_dim=128 --out runs/a
    python -m dpedu train --total-timesteps 20000 --save-trainer --out runs/b     # then, later:
    python -m dpedu train --total-timesteps 30000 --resume runs/b/trainer.pt --save-trainer --out runs/b
    torchrun --nproc_per_node=2 -m dpedu train ...   # data-parallel on 2 GPUs or processes (rank 0 writes)
    python -m dpedu evaluate runs/a/policy.pt --episodes 100 --seed 0
    python -m dpedu config            # every config key, its default and its meaning
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path

from dpedu.config import DPConfig


def parse_set(items: list[str], parser: argparse.ArgumentParser) -> dict:
    """--set key=value pairs -> a dict, each value converted to the type of its config field."""
    types = {f.name: f.type for f in fields(DPConfig)}
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            parser.error(f"--set expects key=value, got {item!r}")
        if key not in types:
            try:
                DPConfig.from_dict({key: None})
            except (TypeError, ValueError) as e:
                parser.error(f"--set {item}: {e}")
        kind = types[key].replace(" | None", "")
        try:
            if raw == "None" and "None" in types[key]:
                out[key] = None
            elif kind == "int":
                out[key] = int(raw.replace("_", ""))
            elif kind == "float":
                out[key] = float(raw)
            elif kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError("expected true or false")
                out[key] = raw.lower() in ("true", "1")
            else:
                out[key] = raw
        except ValueError as e:
            parser.error(f"--set {item}: {key} must be {types[key]} ({e})")
    return out


def cmd_train(args, parser) -> int:
    import torch

    from dpedu.runtime import distributed

    overrides = parse_set(args.set, parser)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out}: exists and is not a directory")
    if args.threads:
        torch.set_num_threads(args.threads)
    # Under `torchrun --nproc_per_node=N` (WORLD_SIZE > 1): join the process group, train data-parallel,
    # and let rank 0 alone write the files and print. In a plain process both calls do nothing.
    distributed.init_distributed()
    if distributed.world_size() > 1 and (args.resume or args.save_trainer):
        parser.error("--resume and --save-trainer are single-process only: a trainer checkpoint holds one "
                     "process's data")
    try:
        try:
            trainer = make_trainer(args, overrides, parser)
        except (TypeError, ValueError) as e:
            parser.error(str(e))
        start = time.perf_counter()
        metrics = trainer.train(args.total_timesteps)
        metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
        if distributed.is_main_process():
            ranks = distributed.world_size()
            if ranks > 1:
                metrics.update(world_size=ranks, global_batch_size=ranks * trainer.config.batch_size)
            out = Path(args.out)
            trainer.policy.save(out / "policy.pt")
            if args.save_trainer:
                trainer.save(out / "trainer.pt")
            (out / "config.json").write_text(json.dumps({"env": trainer.env_id, **trainer.config.to_dict()},
                                                        indent=2))
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
            print(f"Loss: {metrics['loss']:.4f}  updates: {metrics['n_updates']}  "
                  f"wall: {metrics['wall_time_s']:.1f} s  " + (f"ranks: {ranks}  " if ranks > 1 else "")
                  + f"-> {out / 'policy.pt'}")
        distributed.barrier()  # the files are written when any rank returns
    finally:
        distributed.cleanup()
    return 0


def make_trainer(args, overrides: dict, parser: argparse.ArgumentParser):
    """A new Trainer, or with --resume the one a trainer.pt holds (its config and env, not --set/--env)."""
    from dpedu.trainer import Trainer

    if not args.resume:
        return Trainer("diffusion", env=args.env, config=overrides, progress=not args.no_progress)
    if overrides:
        parser.error(f"--resume {args.resume}: the checkpoint fixes the config; drop --set {' '.join(args.set)}")
    try:
        trainer = Trainer.load(args.resume, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as e:
        parser.error(f"--resume: {e}")
    if args.env != trainer.env_id:
        parser.error(f"--env {args.env}, but {args.resume} trained on {trainer.env_id}")
    return trainer


def cmd_evaluate(args, parser) -> int:
    from dpedu.envs import make_demonstrator
    from dpedu.evaluate import check_env_id, check_policy_fits, evaluate_policy
    from dpedu.policy import DiffusionPolicy

    try:
        policy = DiffusionPolicy.load(args.checkpoint, device=args.device)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    changes = parse_set(args.set, parser)
    if changes:
        try:
            policy.configure(**changes)
        except (TypeError, ValueError) as e:
            parser.error(str(e))
    env_id = args.env or policy.env_id or "Pendulum-v1"
    try:
        check_env_id(env_id)
        check_policy_fits(policy, env_id)
        if not args.no_baselines:
            make_demonstrator(env_id)  # the baselines need one
    except (TypeError, ValueError) as e:
        parser.error(f"--env {env_id}: {e}")
    result = evaluate_policy(policy, env_id, args.episodes, args.seed, baselines=not args.no_baselines)
    result["checkpoint"] = str(args.checkpoint)
    print(json.dumps(result))
    return 0


def positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dpedu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="collect demonstrations and train a diffusion policy")
    train.add_argument("--env", default="Pendulum-v1")
    train.add_argument("--total-timesteps", type=positive_int, default=50_000)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (repeatable); `python -m dpedu config` lists them")
    train.add_argument("--out", default="runs/latest", help="directory for policy.pt, config.json, metrics.json")
    train.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    train.add_argument("--save-trainer", action="store_true",
                       help="also write trainer.pt, a checkpoint `--resume` continues from bit for bit")
    train.add_argument("--resume", default=None, metavar="TRAINER_PT",
                       help="continue the training a trainer.pt holds for --total-timesteps more steps")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="roll a saved policy out and print one JSON line of returns")
    ev.add_argument("checkpoint", help="a policy.pt written by train")
    ev.add_argument("--episodes", type=positive_int, default=100)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--env", default=None, help="default: the env the policy was trained on")
    ev.add_argument("--device", default=None)
    ev.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="inference setting: sampler, n_inference_steps, ddim_eta, n_action_steps, clip_sample, seed")
    ev.add_argument("--no-baselines", action="store_true", help="skip the random and demonstrator baselines")

    sub.add_parser("config", help="list every config key with its default")

    args = parser.parse_args(argv)
    if args.command == "train":
        return cmd_train(args, train)
    if args.command == "evaluate":
        if args.seed < 0:
            ev.error(f"--seed must be >= 0, got {args.seed}")
        return cmd_evaluate(args, ev)
    print(DPConfig.describe())
    return 0

