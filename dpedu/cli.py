"""The `dpedu` command (also `python -m dpedu`): train | evaluate | config | learner-edition.

    dpedu train --env Pendulum-v1 --preset --out runs/a          # the course's "Pendulum in a minute"
    dpedu train --env Pendulum-v1 --total-timesteps 50000 --set hidden_dim=128 --set seed=1 --out runs/a
    dpedu train --total-timesteps 20000 --save-trainer --out runs/b          # then, later:
    dpedu train --total-timesteps 30000 --resume runs/b/trainer.pt --save-trainer --out runs/b
    dpedu evaluate runs/a/policy.pt --episodes 100 --seed 0      # a progress bar, then one line; --json for JSON
    dpedu config                                                 # every config key, its default and its meaning
    dpedu learner-edition ~/class/dpedu                          # the notebooks without solutions, for a class
    torchrun --nproc_per_node=2 -m dpedu train ...               # data-parallel (rank 0 writes)

train checks everything it can (the env id, each --set, the preset, the step count, the run folder) before it
collects a single step. The run folder is written as one unit (dpedu/runtime/run_folder.py); Ctrl-C leaves a
resumable trainer.pt there and prints the command that goes on; --save-every N does the same every N steps.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

# Only the standard library and dpedu.config here: `dpedu --help` must answer without importing torch or
# gymnasium; each command imports what it needs when it runs.
from dpedu.config import PRESETS, DPConfig

DEFAULT_TIMESTEPS = 50_000
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (unless the help names it, or it is off/empty); the description's
    examples kept as written."""

    def _get_help_string(self, action) -> str:
        off = action.default is None or action.default is False or action.default == []
        if off or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    value = int(text.replace("_", ""))  # a ValueError: argparse says "invalid positive_int value: 'abc'"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_set(items: list[str], parser: argparse.ArgumentParser) -> dict:
    """--set key=value pairs -> a dict, each value converted to the type of its config field."""
    types = {name: str(f.type) for name, f in DPConfig.__dataclass_fields__.items()}
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


# ---------------------------------------------------------------- train


def train_plan(args, parser) -> tuple[dict, int]:
    """(config overrides, total_timesteps) from --preset, --set and --total-timesteps, validated."""
    overrides, total = {}, args.total_timesteps
    if args.preset:
        if args.env not in PRESETS:
            parser.error(f"--preset: no preset for --env {args.env}; presets exist for {', '.join(PRESETS)}")
        if args.resume:
            parser.error(f"--preset with --resume {args.resume}: the checkpoint fixes the config; drop --preset")
        overrides = dict(PRESETS[args.env]["config"])
        total = total or PRESETS[args.env]["total_timesteps"]
    overrides.update(parse_set(args.set, parser))
    if args.resume and args.set:
        parser.error(f"--resume {args.resume}: the checkpoint fixes the config; drop --set {' '.join(args.set)}")
    try:
        DPConfig.from_dict(overrides)
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    return overrides, total or DEFAULT_TIMESTEPS


def make_trainer(args, overrides: dict, parser: argparse.ArgumentParser):
    """A new Trainer, or with --resume the one a trainer.pt holds (its config and env, not --set/--env)."""
    from dpedu.trainer import Trainer

    try:
        if not args.resume:
            return Trainer("diffusion", env=args.env, config=overrides, progress=not args.no_progress)
        trainer = Trainer.load(args.resume, progress=not args.no_progress)
    except (FileNotFoundError, TypeError, ValueError) as e:
        parser.error(f"--resume: {e}" if args.resume else str(e))
    if args.env != trainer.env_id:
        parser.error(f"--env {args.env}, but {args.resume} trained on {trainer.env_id}")
    return trainer


def check_updates_will_run(trainer, total: int, parser) -> None:
    """A run that would end before its first gradient update has no policy: say so before collecting."""
    warmup = trainer.config.warmup_steps
    if total < trainer.steps_to_first_update():
        have = f" (the checkpoint is at step {trainer.env_steps})" if trainer.env_steps else ""
        parser.error(f"--total-timesteps {total} ends at environment step {trainer.env_steps + total}{have}, not "
                     f"after warmup_steps={warmup}: no gradient update would run; give more steps or "
                     f"--set warmup_steps=N with N < {trainer.env_steps + total}")


def resume_command(out: Path, remaining: int) -> str:
    """The command that finishes an interrupted run in its own folder (a path with spaces quoted for the shell)."""
    trainer_pt, folder = shlex.quote(str(out / "trainer.pt")), shlex.quote(str(out))
    return f"dpedu train --resume {trainer_pt} --total-timesteps {remaining} --save-trainer --out {folder}"


def cmd_train(args, parser) -> int:
    from dpedu.runtime.run_folder import RunFolder, RunFolderError

    overrides, total = train_plan(args, parser)
    if args.out.strip() == "" or Path(args.out).is_file():  # the cheap half of RunFolder's checks, before torch
        parser.error("--out is empty: give a folder for the run, e.g. --out runs/a" if not args.out.strip()
                     else f"--out {args.out}: exists and is not a directory")
    # Resuming a checkpoint that lives in --out continues that run: no --overwrite needed to replace it.
    continuing = bool(args.resume) and Path(args.resume).absolute().parent == Path(args.out).absolute()
    import torch  # after the cheap checks: a typo costs no torch import

    from dpedu.runtime import distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    # Under `torchrun --nproc_per_node=N` (WORLD_SIZE > 1): join the process group, train data-parallel,
    # and let rank 0 alone write the files and print. In a plain process both calls do nothing.
    distributed.init_distributed()
    try:
        if distributed.world_size() > 1 and (args.resume or args.save_trainer or args.save_every):
            parser.error("--resume, --save-trainer and --save-every are single-process only: a trainer checkpoint "
                         "holds one process's data")
        trainer = make_trainer(args, overrides, parser)  # checks the env id and the config; collects nothing
        check_updates_will_run(trainer, total, parser)
        try:
            folder = RunFolder(args.out, overwrite=args.overwrite, continuing=continuing)
            if distributed.is_main_process():
                folder.__enter__()  # locked and tried for writing before any training
        except RunFolderError as e:
            parser.error(str(e))
        try:
            return train_and_publish(trainer, total, args, folder)
        finally:
            folder.__exit__(None, None, None)
    finally:
        distributed.cleanup()


def train_and_publish(trainer, total: int, args, folder) -> int:
    """Train in chunks of --save-every steps, publishing a resumable run folder after each; on Ctrl-C
    publish what there is and print the command that goes on."""
    from dpedu.runtime import distributed
    from dpedu.runtime.interrupt import TrainingInterrupted

    start, target = time.perf_counter(), trainer.env_steps + total
    chunk = args.save_every or total
    bar = None
    if chunk < total and trainer.progress:  # one bar over the whole run, not one per chunk
        from tqdm.auto import tqdm

        trainer.progress = False
        bar = tqdm(total=total, unit="step", desc="train", disable=not distributed.is_main_process())
    while trainer.env_steps < target:
        try:
            # train(N) twice equals train(2N) bit for bit (tests/test_resume.py): chunks change no number.
            steps = min(chunk, target - trainer.env_steps)
            # A chunk that ends before the first update only collects (train() refuses it: it has no policy).
            metrics = (trainer.train if steps >= trainer.steps_to_first_update() else trainer.collect)(steps)
            if bar is not None:
                bar.update(total - (target - trainer.env_steps) - bar.n)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}", updates=metrics["n_updates"], saved=trainer.env_steps)
        except KeyboardInterrupt as e:
            # The first Ctrl-C stops at a step boundary (TrainingInterrupted: the trainer is consistent); a second
            # one stops mid-step, and then only the last periodic save is sound.
            consistent = isinstance(e, TrainingInterrupted)
            if bar is not None:
                bar.close()
            if consistent and distributed.is_main_process():
                path = publish(trainer, folder, trainer.metrics(interrupted=True), with_trainer=True)
                print(f"\ninterrupted at environment step {trainer.env_steps} of {target}; saved {path}/trainer.pt"
                      f"\nresume with:\n  {resume_command(path, target - trainer.env_steps)}", file=sys.stderr)
            else:
                print("\ninterrupted mid-step: nothing new saved"
                      + (f"; the last periodic save is in {folder.path}" if args.save_every else ""), file=sys.stderr)
            return EXIT_INTERRUPTED
        if trainer.env_steps < target and distributed.is_main_process():
            publish(trainer, folder, metrics, with_trainer=True)
    if bar is not None:
        bar.close()
    metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
    if distributed.is_main_process():
        ranks = distributed.world_size()
        if ranks > 1:
            metrics.update(world_size=ranks, global_batch_size=ranks * trainer.config.batch_size)
        path = publish(trainer, folder, metrics, with_trainer=args.save_trainer)
        print(f"Loss: {metrics['loss']:.4f}  updates: {metrics['n_updates']}  wall: {metrics['wall_time_s']:.1f} s  "
              + (f"ranks: {ranks}  " if ranks > 1 else "") + f"-> {path / 'policy.pt'}")
    distributed.barrier()  # the files are written when any rank returns
    return 0


def publish(trainer, folder, metrics: dict, with_trainer: bool) -> Path:
    """policy.pt (once an update ran), trainer.pt (if asked), config.json and metrics.json, as one unit."""

    def write_json(value):
        return lambda path: path.write_text(json.dumps(value, indent=2))

    writers = {}
    if trainer.n_updates:
        writers["policy.pt"] = trainer.policy.save
    if with_trainer:
        writers["trainer.pt"] = trainer.save
    writers["config.json"] = write_json({"env": trainer.env_id, **trainer.config.to_dict()})
    writers["metrics.json"] = write_json(metrics)
    return folder.publish(writers)


# ---------------------------------------------------------------- evaluate


def summary_line(result: dict) -> str:
    """One line a person reads: mean return +- std, success rate, baselines."""
    line = (f"{result['env_id']}: mean return {result['mean_return']:.2f} +- {result['std_return']:.2f} (std) over "
            f"{result['n_episodes']} episodes, seed {result['seed']}")
    if "success_rate" in result:
        low, high = result["success_ci"]
        line += f"; success {result['success_rate']:.0%} (95% CI {low:.0%}-{high:.0%})"
    if "normalized_score" in result:
        line += (f"; random {result['random_mean_return']:.2f}, demonstrator {result['demonstrator_mean_return']:.2f}"
                 f", normalized score {result['normalized_score']:.2f}")
    return line


def cmd_evaluate(args, parser) -> int:
    if args.out is not None:
        out = Path(args.out)
        if str(args.out).strip() == "" or out.is_dir():
            parser.error(f"--out {args.out!r}: give a file name for the JSON result")
        try:  # tried now, not after the rollouts
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "a"):
                pass
        except OSError as e:
            parser.error(f"--out {args.out}: cannot write there ({e.strerror or e})")
    changes = parse_set(args.set, parser)

    from dpedu.envs import make_demonstrator
    from dpedu.evaluate import check_env_id, check_policy_fits, evaluate_policy
    from dpedu.policy import DiffusionPolicy

    try:
        policy = DiffusionPolicy.load(args.checkpoint, device=args.device)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
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
    result = evaluate_policy(policy, env_id, args.episodes, args.seed, baselines=not args.no_baselines,
                             progress=not (args.no_progress or args.json))
    result["checkpoint"] = str(args.checkpoint)
    if args.out is not None:
        from dpedu.runtime.run_folder import atomic_write_text

        atomic_write_text(Path(args.out), json.dumps(result) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(summary_line(result) + (f"\n-> {args.out}" if args.out else ""))
    return 0


# ---------------------------------------------------------------- the parser


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    envs = ", ".join(PRESETS)
    parser = argparse.ArgumentParser(prog="dpedu", description=__doc__, formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,config,learner-edition}")

    train = sub.add_parser("train", formatter_class=HelpFormatter,
                           help="collect demonstrations and train a diffusion policy",
                           description=f"Collect demonstrations and train a diffusion policy. Built-in tasks: {envs}.")
    train.add_argument("--env", default="Pendulum-v1", help=f"the task, one of: {envs}")
    train.add_argument("--preset", action="store_true",
                       help="start from the course's configuration for --env and its step count (`dpedu config "
                            "--help` lists them); --set and --total-timesteps override it")
    train.add_argument("--total-timesteps", type=positive_int, default=None,
                       help=f"environment steps of demonstration to collect (default: {DEFAULT_TIMESTEPS}, or the "
                            "preset's with --preset)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (repeatable); `dpedu config` lists them")
    train.add_argument("--out", default="runs/latest",
                       help="the run folder: policy.pt, config.json, metrics.json (and trainer.pt)")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--save-trainer", action="store_true",
                       help="also write trainer.pt, a checkpoint `--resume` continues from bit for bit")
    train.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                       help="publish a resumable run folder (with trainer.pt) every N environment steps")
    train.add_argument("--resume", default=None, metavar="TRAINER_PT",
                       help="continue the training a trainer.pt holds for --total-timesteps more steps")
    train.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", formatter_class=HelpFormatter,
                        help="roll a saved policy out: a progress bar, then a one-line summary",
                        description="Roll a saved policy out and summarise its returns in one line "
                                    "(--json: the whole result as one JSON line).")
    ev.add_argument("checkpoint", help="a policy.pt written by train")
    ev.add_argument("--episodes", type=positive_int, default=100, help="episodes, stepped together")
    ev.add_argument("--seed", type=int, default=0, help="episode i starts from env.reset(seed=seed + i)")
    ev.add_argument("--env", default=None, help=f"default: the env the policy was trained on ({envs}, ...)")
    ev.add_argument("--device", default=None, help="default: the policy's config (auto)")
    ev.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="inference setting: sampler, n_inference_steps, ddim_eta, n_action_steps, clip_sample, seed")
    ev.add_argument("--no-baselines", action="store_true", help="skip the random and demonstrator baselines")
    ev.add_argument("--json", action="store_true", help="print the whole result as one JSON line instead")
    ev.add_argument("--out", default=None, metavar="FILE", help="also write the whole result as JSON to FILE")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")

    presets = "\n".join(f"  {env}: {p['config']}, total_timesteps {p['total_timesteps']}" for env, p in PRESETS.items())
    sub.add_parser("config", formatter_class=HelpFormatter, help="list every config key with its default",
                   description=f"List every config key with its default and meaning.\n\nPresets (--preset):\n{presets}")

    from dpedu.course import edition  # the standard library only until it writes

    learner = sub.add_parser("learner-edition", formatter_class=HelpFormatter,
                             help="write the notebooks with every solution replaced by a stub, for learners",
                             description="Write the learner's edition of the course: each notebook with every "
                                         "marked solution replaced by `raise NotImplementedError(hint)`, each "
                                         "folded try-this answer removed and all outputs cleared (docs/course.md). "
                                         "Open it with `jupyter lab OUT_DIR`.")
    edition.add_arguments(learner)
    return parser, {"train": train, "evaluate": ev, "learner-edition": learner}


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, commands["train"])
        if args.command == "evaluate":
            if args.seed < 0:
                commands["evaluate"].error(f"--seed must be >= 0, got {args.seed}")
            return cmd_evaluate(args, commands["evaluate"])
        if args.command == "learner-edition":
            from dpedu.course import edition

            return edition.run(args, commands["learner-edition"])
    except KeyboardInterrupt:  # outside training's own handling (loading, evaluating): stop without a traceback
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(DPConfig.describe())
    return 0
