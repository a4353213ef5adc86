"""The `dpedu` command (also `python -m dpedu`): train | evaluate | dataset | config | learner-edition.

    dpedu train --env Pendulum-v1 --preset --out runs/a          # the course's "Pendulum in a minute"
    dpedu dataset record --env dpedu/Detour-v0 --episodes 200 --out data/detour.zarr --workers 2
    dpedu train --dataset data/detour.zarr --updates 20000 --out runs/c      # offline: the paper's setting
    dpedu dataset info data/detour.zarr                          # one JSON line
    dpedu dataset pack data/detour.zarr data/detour.zarr.zip     # the one-file, read-only form
    dpedu dataset render data/detour.zarr                        # add each step's camera frame (pixel policies)
    dpedu train --env Pendulum-v1 --total-timesteps 50000 --set hidden_dim=128 --set seed=1 --out runs/a
    dpedu train --total-timesteps 20000 --save-trainer --out runs/b          # then, later:
    dpedu train --total-timesteps 30000 --resume runs/b/trainer.pt --save-trainer --out runs/b
    dpedu evaluate runs/a/policy.pt --episodes 100 --seed 0      # a progress bar, then one line; --json for JSON
    dpedu evaluate runs/d/policy.pt --latency 4 --compensate      # observations 4 steps late, compensated
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
from dpedu.config import ALGORITHMS, DDPM_KEYS, DIFFUSION_KEYS, FLOW_METHODS, PRESETS, DPConfig

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


def non_negative_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
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
    overrides, total, env = {}, args.total_timesteps, args.env or "Pendulum-v1"
    if args.preset:
        if env not in PRESETS:
            parser.error(f"--preset: no preset for --env {env}; presets exist for {', '.join(PRESETS)}")
        if args.resume:
            parser.error(f"--preset with --resume {args.resume}: the checkpoint fixes the config; drop --preset")
        overrides = dict(PRESETS[env]["config"])
        if args.algorithm in FLOW_METHODS:  # flow matching: the preset's network and windows, not DDPM's schedule
            overrides = {k: v for k, v in overrides.items() if k not in DDPM_KEYS}
        elif (args.algorithm or "diffusion") != "diffusion":  # a baseline: the preset's windows, width, depth only
            overrides = {k: v for k, v in overrides.items() if k not in DIFFUSION_KEYS}
        if args.algorithm == "reflow":  # the windows and network are the teacher's
            from dpedu.trainer import TEACHER_KEYS

            overrides = {k: v for k, v in overrides.items() if k not in TEACHER_KEYS}
        total = total or PRESETS[env].get("total_timesteps")  # None for an offline preset (its --updates)
    overrides.update(parse_set(args.set, parser))
    if args.resume and args.set:
        parser.error(f"--resume {args.resume}: the checkpoint fixes the config; drop --set {' '.join(args.set)}")
    try:
        DPConfig.from_dict(overrides).check_algorithm(args.algorithm or "diffusion")
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    return overrides, total or DEFAULT_TIMESTEPS


def make_trainer(args, overrides: dict, parser: argparse.ArgumentParser):
    """A new Trainer, or with --resume the one a trainer.pt holds (its config and env, not --set/--env)."""
    from dpedu.trainer import Trainer

    if args.resume and args.teacher:
        parser.error(f"--teacher with --resume {args.resume}: a reflow checkpoint holds its teacher; drop --teacher")
    try:
        if not args.resume:
            return Trainer(args.algorithm or "diffusion", env=args.env or "Pendulum-v1", config=overrides,
                           progress=not args.no_progress, dataset=args.dataset, teacher=args.teacher)
        trainer = Trainer.load(args.resume, progress=not args.no_progress)
    except (FileNotFoundError, TypeError, ValueError) as e:
        parser.error(f"--resume: {e}" if args.resume else str(e))
    if args.env is not None and args.env != trainer.env_id:
        parser.error(f"--env {args.env}, but {args.resume} trained on {trainer.env_id}")
    if args.algorithm is not None and args.algorithm != trainer.algorithm:
        parser.error(f"--algorithm {args.algorithm}, but {args.resume} is a {trainer.algorithm} trainer")
    return trainer


def apply_offline_preset(args) -> None:
    """--preset for a task whose preset learns from a dataset (dpedu/PushT-v0): its dataset and its n_updates,
    unless --dataset / --updates say otherwise."""
    preset = PRESETS.get(args.env) if args.preset and not args.resume else None
    if preset is None or "dataset" not in preset:
        return
    if args.dataset is None:
        from dpedu.datasets import PUSHT_DATASET

        args.dataset = str(PUSHT_DATASET) if preset["dataset"] == "pusht" else preset["dataset"]
    if args.updates is None and args.total_timesteps is None:
        args.updates = preset["n_updates"]


def check_data_flags(args, parser) -> None:
    """--dataset (offline, counted in --updates) and the online flags (--total-timesteps) do not mix; the env of a
    dataset is the dataset's. Reads the dataset's attrs only (no torch)."""
    if args.dataset is None:
        if args.updates is not None and not args.resume:
            parser.error("--updates counts gradient updates on a dataset: give --dataset PATH (online training "
                         "counts --total-timesteps)")
        return
    if args.resume:
        parser.error(f"--dataset with --resume {args.resume}: the checkpoint holds its data; drop --dataset")
    if args.total_timesteps is not None:
        parser.error("--dataset trains offline, with no environment steps: give --updates N (gradient updates), "
                     "not --total-timesteps")
    if args.updates is None:
        parser.error("--dataset needs --updates N, the gradient updates to make")
    from dpedu.datasets import Demonstrations

    try:
        with Demonstrations.open(args.dataset) as data:
            env = data.env_id
    except (FileNotFoundError, TypeError, ValueError) as e:
        parser.error(f"--dataset: {e}")
    if args.env is not None and args.env != env:
        parser.error(f"--env {args.env}, but --dataset {args.dataset} holds demonstrations of {env}")
    args.env = env


def check_run_length(trainer, args, total: int, parser) -> int:
    """The length of this run: --updates for a trainer that learns from a dataset, else environment steps."""
    if trainer.offline:
        if args.total_timesteps is not None or args.updates is None:
            parser.error(f"--resume {args.resume} learns from a dataset: give --updates N (gradient updates), not "
                         "--total-timesteps")
        return args.updates
    if args.updates is not None:
        parser.error(f"--updates is for a trainer that learns from a dataset; {args.resume} collects from a "
                     "demonstrator: give --total-timesteps")
    check_updates_will_run(trainer, total, parser)
    return total


def check_updates_will_run(trainer, total: int, parser) -> None:
    """A run that would end before its first gradient update has no policy: say so before collecting."""
    warmup = trainer.config.warmup_steps
    if total < trainer.steps_to_first_update():
        have = f" (the checkpoint is at step {trainer.env_steps})" if trainer.env_steps else ""
        parser.error(f"--total-timesteps {total} ends at environment step {trainer.env_steps + total}{have}, not "
                     f"after warmup_steps={warmup}: no gradient update would run; give more steps or "
                     f"--set warmup_steps=N with N < {trainer.env_steps + total}")


def resume_command(out: Path, remaining: int, flag: str = "--total-timesteps") -> str:
    """The command that finishes an interrupted run in its own folder (a path with spaces quoted for the shell)."""
    trainer_pt, folder = shlex.quote(str(out / "trainer.pt")), shlex.quote(str(out))
    return f"dpedu train --resume {trainer_pt} {flag} {remaining} --save-trainer --out {folder}"


def cmd_train(args, parser) -> int:
    from dpedu.runtime.run_folder import RunFolder, RunFolderError

    apply_offline_preset(args)
    check_data_flags(args, parser)
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
        total = check_run_length(trainer, args, total, parser)
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
    """Train in chunks of --save-every steps (updates, offline), publishing a resumable run folder after each; on
    Ctrl-C publish what there is and print the command that goes on."""
    from dpedu.runtime import distributed
    from dpedu.runtime.interrupt import TrainingInterrupted

    # Online a run counts environment steps, offline (--dataset) gradient updates.
    def done() -> int:
        return trainer.n_updates if trainer.offline else trainer.env_steps

    what, flag = ("gradient update", "--updates") if trainer.offline else ("environment step", "--total-timesteps")
    start, target = time.perf_counter(), done() + total
    chunk = args.save_every or total
    bar = None
    if chunk < total and trainer.progress:  # one bar over the whole run, not one per chunk
        from tqdm.auto import tqdm

        trainer.progress = False
        bar = tqdm(total=total, unit=what.split()[-1], desc="train", disable=not distributed.is_main_process())
    while done() < target:
        try:
            # train(N) twice equals train(2N) bit for bit (tests/test_resume.py): chunks change no number.
            steps = min(chunk, target - done())
            if trainer.offline:
                metrics = trainer.train(n_updates=steps)
            else:  # a chunk that ends before the first update only collects (train() refuses it: it has no policy)
                metrics = (trainer.train if steps >= trainer.steps_to_first_update() else trainer.collect)(steps)
            if bar is not None:
                bar.update(total - (target - done()) - bar.n)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}", updates=metrics["n_updates"], saved=done())
        except KeyboardInterrupt as e:
            # The first Ctrl-C stops at a step boundary (TrainingInterrupted: the trainer is consistent); a second
            # one stops mid-step, and then only the last periodic save is sound.
            consistent = isinstance(e, TrainingInterrupted)
            if bar is not None:
                bar.close()
            if consistent and distributed.is_main_process():
                path = publish(trainer, folder, trainer.metrics(interrupted=True), with_trainer=True)
                print(f"\ninterrupted at {what} {done()} of {target}; saved {path}/trainer.pt"
                      f"\nresume with:\n  {resume_command(path, target - done(), flag)}", file=sys.stderr)
            else:
                print("\ninterrupted mid-step: nothing new saved"
                      + (f"; the last periodic save is in {folder.path}" if args.save_every else ""), file=sys.stderr)
            return EXIT_INTERRUPTED
        if done() < target and distributed.is_main_process():
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
    dataset = {"dataset": trainer.dataset} if trainer.offline else {}
    writers["config.json"] = write_json({"env": trainer.env_id, **dataset, **trainer.config.to_dict()})
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
    if "score" in result:  # Push-T: Chi et al.'s score, the mean of each episode's best min(coverage / 0.95, 1)
        line += f"; score {result['score']:.3f} +- {result['se_score']:.3f} (s.e.)"
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
    from dpedu.trainer import load_policy

    try:
        policy = load_policy(args.checkpoint, device=args.device)  # any method's (diffusion or a baseline)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    if changes:
        try:
            policy.configure(**changes)
        except (TypeError, ValueError) as e:
            parser.error(str(e))
    if args.compensate and args.latency == 0:
        parser.error("--compensate skips the actions a late observation's plan meant for the past: it needs "
                     "--latency D with D >= 1")
    if args.compensate:
        from dpedu.policy import LatencyCompensated

        try:
            actor = LatencyCompensated(policy, args.latency)
        except ValueError as e:
            parser.error(f"--compensate: {e}")
    else:
        actor = policy
    env_id = args.env or policy.env_id or "Pendulum-v1"
    try:
        check_env_id(env_id)
        check_policy_fits(policy, env_id)
        if not args.no_baselines:
            make_demonstrator(env_id)  # the baselines need one
    except (TypeError, ValueError) as e:
        parser.error(f"--env {env_id}: {e}")
    result = evaluate_policy(actor, env_id, args.episodes, args.seed, baselines=not args.no_baselines,
                             progress=not (args.no_progress or args.json), latency=args.latency)
    result["compensated"] = bool(args.compensate)
    result["checkpoint"] = str(args.checkpoint)
    if args.out is not None:
        from dpedu.runtime.run_folder import atomic_write_text

        atomic_write_text(Path(args.out), json.dumps(result) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(summary_line(result) + (f"\n-> {args.out}" if args.out else ""))
    return 0


# ---------------------------------------------------------------- dataset


def cmd_dataset(args, parser) -> int:
    """record | info | pack | render (dpedu/datasets.py); bad input exits 2 with the reason, Ctrl-C says how to go
    on."""
    from dpedu import datasets

    try:
        if args.dataset_command == "record":
            summary = datasets.record(args.env, args.out, args.episodes, seed_start=args.seed_start,
                                      workers=args.workers, progress=not args.no_progress)
            print(json.dumps(summary))
        elif args.dataset_command == "info":
            with datasets.Demonstrations.open(args.path) as data:
                print(json.dumps(data.summary()))
        elif args.dataset_command == "render":
            with datasets.render_frames(args.path, progress=not args.no_progress) as data:
                print(json.dumps(data.summary()))
        else:
            dst = datasets.pack(args.src, args.dst, overwrite=args.overwrite)
            print(f"{dst} ({dst.stat().st_size / 2**20:.2f} MiB)")
    except (FileNotFoundError, TypeError, ValueError) as e:
        parser.error(str(e))
    except KeyboardInterrupt as e:
        print(f"\n{e}" if str(e) else "\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def add_dataset_parser(sub) -> argparse.ArgumentParser:
    dataset = sub.add_parser("dataset", formatter_class=HelpFormatter,
                             help="record, inspect and pack demonstration datasets (Chi et al.'s zarr layout)",
                             description="Demonstration datasets on disk (dpedu/datasets.py): a .zarr directory "
                                         "(appendable) or a .zarr.zip file (read-only), in Chi et al.'s layout.")
    commands = dataset.add_subparsers(dest="dataset_command", required=True, metavar="{record,info,pack,render}")
    rec = commands.add_parser("record", formatter_class=HelpFormatter,
                              help="record a task's built-in demonstrator into a dataset (resumable)",
                              description="Run the task's built-in demonstrator from env.reset(seed=S), S = "
                                          "--seed-start, +1, ..., until --out holds --episodes successful episodes "
                                          "(failed ones are skipped and noted). Run it again after Ctrl-C: it goes "
                                          "on where it stopped. Prints a JSON summary.")
    rec.add_argument("--env", required=True, help="a task with a built-in demonstrator, e.g. dpedu/Detour-v0")
    rec.add_argument("--episodes", type=positive_int, required=True, help="episodes the dataset should hold")
    rec.add_argument("--out", required=True, help="the dataset, a <name>.zarr directory (created or appended to)")
    rec.add_argument("--workers", type=positive_int, default=1, help="processes recording episodes in parallel")
    rec.add_argument("--seed-start", type=int, default=0, help="the first episode seed to try")
    rec.add_argument("--no-progress", action="store_true", help="no progress bar")
    info = commands.add_parser("info", formatter_class=HelpFormatter, help="one JSON line about a dataset",
                               description="Print the dataset's env, episodes, steps, arrays and source as JSON.")
    info.add_argument("path", help="a .zarr directory or a .zarr.zip file")
    pack = commands.add_parser("pack", formatter_class=HelpFormatter, help="write a dataset as one .zarr.zip file",
                               description="Write the whole episodes of SRC as the one read-only file DST "
                                           "(<name>.zarr.zip), the form the package ships.")
    pack.add_argument("src", help="a .zarr directory (or .zarr.zip)")
    pack.add_argument("dst", help="the file to write, <name>.zarr.zip")
    pack.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    render = commands.add_parser("render", formatter_class=HelpFormatter,
                                 help="add each step's camera frame to a dataset (for pixel policies)",
                                 description="Draw every step's camera frame (data/img, uint8) and agent position "
                                             "(data/agent_pos) from the states the dataset stores, as the env draws "
                                             "its obs_type 'pixels' observations; replaces frames drawn before. Then "
                                             "train with --set obs_type=pixels (or pixels_agent_pos).")
    render.add_argument("path", help="a .zarr directory")
    render.add_argument("--no-progress", action="store_true", help="no progress bar")
    return dataset


# ---------------------------------------------------------------- the parser


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    envs = ", ".join(PRESETS)
    parser = argparse.ArgumentParser(prog="dpedu", description=__doc__, formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{train,evaluate,dataset,config,learner-edition}")

    train = sub.add_parser("train", formatter_class=HelpFormatter,
                           help="collect demonstrations and train a diffusion policy",
                           description=f"Collect demonstrations and train a diffusion policy, or (--dataset) learn "
                                       f"from demonstrations on disk. Built-in tasks: {envs}.")
    train.add_argument("--algorithm", default=None, choices=ALGORITHMS,
                       help="the method (default: diffusion; with --resume, the checkpoint's), or a baseline Chi et "
                            "al. compare with (dpedu/baselines/); with --preset a baseline keeps the preset's windows, "
                            "width and depth")
    train.add_argument("--env", default=None,
                       help=f"the task, one of: {envs}; with --dataset, the dataset's (default: Pendulum-v1)")
    train.add_argument("--preset", action="store_true",
                       help="start from the course's configuration for --env and its step count (`dpedu config "
                            "--help` lists them); --set and --total-timesteps override it")
    train.add_argument("--total-timesteps", type=positive_int, default=None,
                       help=f"environment steps of demonstration to collect (default: {DEFAULT_TIMESTEPS}, or the "
                            "preset's with --preset)")
    train.add_argument("--dataset", default=None, metavar="PATH",
                       help="learn offline from this dataset (.zarr or .zarr.zip; `dpedu dataset`): no demonstrator "
                            "acts, and --updates counts the run")
    train.add_argument("--teacher", default=None, metavar="PATH",
                       help="--algorithm reflow: the trained flow policy (policy.pt) to distil into a one-step policy")
    train.add_argument("--updates", type=positive_int, default=None, metavar="N",
                       help="gradient updates to make on --dataset (or on a resumed offline trainer)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (repeatable); `dpedu config` lists them")
    train.add_argument("--out", default="runs/latest",
                       help="the run folder: policy.pt, config.json, metrics.json (and trainer.pt)")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--save-trainer", action="store_true",
                       help="also write trainer.pt, a checkpoint `--resume` continues from bit for bit")
    train.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                       help="publish a resumable run folder (with trainer.pt) every N environment steps (gradient "
                            "updates with --dataset)")
    train.add_argument("--resume", default=None, metavar="TRAINER_PT",
                       help="continue the training a trainer.pt holds for --total-timesteps more steps (--updates "
                            "more updates for an offline one)")
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
    ev.add_argument("--latency", type=non_negative_int, default=0, metavar="D",
                    help="the policy observes o_{t-D}, D control steps late (dpedu.envs.latency; notebook 11)")
    ev.add_argument("--compensate", action="store_true",
                    help="with --latency D: execute each plan's actions D..D+T_a-1, the ones meant for now "
                         "(dpedu.policy.LatencyCompensated)")
    ev.add_argument("--no-baselines", action="store_true", help="skip the random and demonstrator baselines")
    ev.add_argument("--json", action="store_true", help="print the whole result as one JSON line instead")
    ev.add_argument("--out", default=None, metavar="FILE", help="also write the whole result as JSON to FILE")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")

    presets = "\n".join(f"  {env}: {p['config']}, "
                         + (f"total_timesteps {p['total_timesteps']}" if "total_timesteps" in p
                            else f"offline: {p['n_updates']} updates on the {p['dataset']} dataset")
                         for env, p in PRESETS.items())
    sub.add_parser("config", formatter_class=HelpFormatter, help="list every config key with its default",
                   description=f"List every config key with its default and meaning.\n\nPresets (--preset):\n{presets}")

    dataset = add_dataset_parser(sub)

    from dpedu.course import edition  # the standard library only until it writes

    learner = sub.add_parser("learner-edition", formatter_class=HelpFormatter,
                             help="write the notebooks with every solution replaced by a stub, for learners",
                             description="Write the learner's edition of the course: each notebook with every "
                                         "marked solution replaced by `raise NotImplementedError(hint)`, each "
                                         "folded try-this answer removed and all outputs cleared (docs/course.md). "
                                         "Open it with `jupyter lab OUT_DIR`.")
    edition.add_arguments(learner)
    return parser, {"train": train, "evaluate": ev, "dataset": dataset, "learner-edition": learner}


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
        if args.command == "dataset":
            return cmd_dataset(args, commands["dataset"])
        if args.command == "learner-edition":
            from dpedu.course import edition

            return edition.run(args, commands["learner-edition"])
    except KeyboardInterrupt:  # outside training's own handling (loading, evaluating): stop without a traceback
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(DPConfig.describe())
    return 0
