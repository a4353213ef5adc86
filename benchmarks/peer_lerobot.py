"""LeRobot's DiffusionPolicy as a peer, trained and evaluated on the course's Push-T data (issue 24, "A peer").

Runs in its own venv, /work/lerobot-venv (never in CI, never imported by the tests); the exact install recipe, and
why it is lerobot 0.4.4 and not 0.6.1, is in benchmarks/peer_lerobot.md. One run:

    HF_HUB_OFFLINE=1 /work/lerobot-venv/bin/python benchmarks/peer_lerobot.py \\
        --dataset dpedu/course/datasets/pusht.zarr.zip --updates N --episodes 50 --out peer_lerobot.jsonl

1. reads a dataset in the course's layout (Chi et al.'s zarr replay buffer: data/obs = the 8 block keypoints then
   the agent's x, y; data/action; meta/episode_ends; a .zarr directory or a .zarr.zip) and converts it, offline,
   into a LeRobotDataset (use_videos=False): observation.state = the agent's (x, y), observation.environment_state
   = the 16 keypoint coordinates, action = the target (x, y), 10 fps;
2. builds LeRobot's DiffusionPolicy sized like ours: our preset for dpedu/PushT-v0 (dpedu.config.PRESETS) when it
   exists, else FALLBACK below (U-Net (64, 128), T_o 2, H 16, T_a 8, K 100, 10 DDIM steps), mapped key by key
   onto LeRobot's DiffusionConfig (`lerobot_config`; what cannot be matched is listed in the record's
   "differences");
3. trains it for --updates gradient updates (default: the preset's n_updates, our budget) of --batch-size windows
   the way lerobot-train does (its Adam preset, cosine schedule with warm-up, gradient clipping at 10,
   EpisodeAwareSampler dropping each episode's last H - T_a - T_o + 1 frames, its normalising pre-processor), on
   --threads torch threads. The windows are read once
   through LeRobotDataset.__getitem__ (its delta_timestamps and padding, unchanged) and kept in memory: read per
   batch, as lerobot-train's DataLoader does, they cost ~4 ms each here, ~1 s per batch of 256 on one thread,
   which would time the data loader rather than the learner (the read is timed apart: data_read_s);
4. evaluates with select_action (its observation queue and receding horizon) on dpedu/PushT-v0 from the test
   starts, env seeds 100000 + i for i < --episodes (never in the training data), and prints ONE JSON line: score
   (mean over episodes of the max reward min(coverage / 0.95, 1): Chi et al.'s "coverage"), max coverage, success,
   updates/s, plan latency (median of the select_action calls that plan), parameter counts (LeRobot's and our
   U-Net's at the same settings), versions. --out FILE appends the same line to a JSON-lines file.

Ctrl-C during training stops it and evaluates what was trained ("interrupted" in the record); during evaluation it
reports the episodes finished.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

# Offline, and LeRobot's/HF datasets' caches inside this run's work directory (set before they are imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ENV_ID = "dpedu/PushT-v0"
TEST_START_SEED = 100_000  # Chi et al.'s evaluation starts (dpedu.envs.pusht.TEST_START_SEED)
FPS = 10  # Push-T's control rate
TASK = "Push the T-shaped block onto the T-shaped target."
# Our settings when PRESETS has no Push-T entry yet (issue 24: the paper's U-Net shape, sized down for a CPU).
FALLBACK = {"network": "unet", "unet_dim": 64, "unet_levels": 2, "obs_horizon": 2, "action_horizon": 16,
            "n_action_steps": 8, "n_diffusion_steps": 100, "n_inference_steps": 10, "sampler": "ddim"}
OUR_SCHEDULES = {"cosine": "squaredcos_cap_v2", "linear": "linear"}  # dpedu's names -> diffusers' beta_schedule


def torchvision_importable() -> None:
    """Make PyPI's torchvision 0.28.0 importable beside the CPU torch 2.13.0, without touching site-packages.

    PyPI's torchvision wheel is built against a CUDA torch: its C++ ops (_C.so) need libtorch_cuda.so, fail to
    load beside a CPU torch, and torchvision then raises on import because _meta_registrations.py registers fake
    kernels for torchvision::nms and ::qnms without checking that its ops loaded (every other registration
    checks). Defining those two schemas (no kernels) lets the import finish; torchvision then reports
    extension._has_ops() False, and any of its C++ ops raises its own "Couldn't load custom C++ ops" error. The
    low-dimensional DiffusionPolicy calls none of them (they serve the ResNet image encoder's detection
    relatives, never built here).
    """
    import torch

    if "torchvision" in sys.modules:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018  (a torchvision whose ops load defines it: nothing to do)
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    torchvision_importable.library = lib  # the schemas live as long as the Library object


def read_dataset(path: Path) -> dict:
    """The course's dataset layout (a .zarr directory or a .zarr.zip): obs (N, 18), action (N, 2), episode_ends."""
    import numpy as np
    import zarr

    if not path.exists():
        raise ValueError(f"--dataset {path} does not exist (a .zarr directory or .zarr.zip in the course's layout)")
    if path.is_dir():
        group = zarr.open_group(str(path), mode="r")
    elif path.name.endswith(".zip"):
        group = zarr.open_group(zarr.storage.ZipStore(str(path), mode="r"), mode="r")
    else:
        raise ValueError(f"--dataset must be a .zarr directory or a .zarr.zip file, got {path}")
    attrs = dict(group.attrs)
    if attrs.get("env_id", ENV_ID) != ENV_ID:
        raise ValueError(f"--dataset {path} holds {attrs['env_id']!r} data; this benchmark is for {ENV_ID}")
    missing = [k for k in ("data/obs", "data/action", "meta/episode_ends") if k not in group]
    if missing:
        raise ValueError(f"--dataset {path} lacks {missing}: not in the course's layout (data/obs, data/action, "
                         "meta/episode_ends)")
    obs = np.asarray(group["data/obs"][:], dtype=np.float32)
    action = np.asarray(group["data/action"][:], dtype=np.float32)
    ends = np.asarray(group["meta/episode_ends"][:], dtype=np.int64)
    if obs.ndim != 2 or obs.shape[1] != 18 or action.shape != (len(obs), 2):
        raise ValueError(f"--dataset {path}: data/obs must be (N, 18) (8 keypoints then the agent) and data/action "
                         f"(N, 2), got {obs.shape} and {action.shape}")
    if len(ends) == 0 or ends[-1] > len(obs) or np.any(np.diff(ends) <= 0) or ends[0] <= 0:
        raise ValueError(f"--dataset {path}: meta/episode_ends must be increasing, positive and <= {len(obs)}")
    return {"obs": obs[: ends[-1]], "action": action[: ends[-1]], "episode_ends": ends, "attrs": attrs}


def our_settings(preset_key: str | None) -> tuple[dict, str, int | None]:
    """Our policy's settings for Push-T: every DPConfig value (a preset's overrides on the defaults), where they
    came from, and the preset's training budget in gradient updates (its "n_updates", None if it names none)."""
    from dpedu.config import PRESETS, PUSHT_UNET, DPConfig

    if preset_key == "unet":  # our U-Net variant on Push-T (dpedu.config.PUSHT_UNET), the size LeRobot's can match
        return DPConfig.from_dict(PUSHT_UNET).to_dict(), "dpedu.config.PUSHT_UNET", None
    keys = [preset_key] if preset_key else [ENV_ID, "gym_pusht/PushT-v0"]
    for key in keys:
        if key in PRESETS:
            preset = PRESETS[key]
            return (DPConfig.from_dict(preset["config"]).to_dict(), f"dpedu.config.PRESETS[{key!r}]",
                    preset.get("n_updates"))
    if preset_key:
        raise ValueError(f"--preset {preset_key!r} is not in dpedu.config.PRESETS ({', '.join(PRESETS)})")
    return DPConfig.from_dict(FALLBACK).to_dict(), "FALLBACK (no Push-T preset in dpedu.config.PRESETS)", None


def lerobot_config(ours: dict, args) -> tuple[object, list[str]]:
    """LeRobot's DiffusionConfig matching our settings key by key, and the differences that remain."""
    from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

    differences = []
    if ours["network"] != "unet":
        raise ValueError(f"our settings use network={ours['network']!r}; LeRobot's DiffusionPolicy has only the U-Net")
    down_dims = tuple(ours["unet_dim"] * 2**i for i in range(ours["unet_levels"]))
    if args.down_dims:
        down_dims = tuple(args.down_dims)
        differences.append(f"down_dims {down_dims} set by --down-dims (ours: unet_dim {ours['unet_dim']} x "
                           f"{ours['unet_levels']} levels)")
    H, T_o, T_a = ours["action_horizon"], ours["obs_horizon"], ours["n_action_steps"]
    if H % 2 ** len(down_dims):
        raise ValueError(f"LeRobot's U-Net needs the horizon {H} to be a multiple of 2^len(down_dims) = "
                         f"{2 ** len(down_dims)} (ours: of 2^(levels - 1)); choose --down-dims with fewer levels")
    if T_a > H - T_o + 1:
        raise ValueError(f"LeRobot executes actions T_o - 1 .. T_o - 2 + T_a of its chunk: n_action_steps {T_a} must "
                         f"be <= horizon - n_obs_steps + 1 = {H - T_o + 1}")
    if ours["sampler"] == "ddim" and ours["ddim_eta"] != 0.0:
        differences.append(f"DDIM eta: ours {ours['ddim_eta']}, LeRobot's select_action always 0")
    config = DiffusionConfig(
        n_obs_steps=T_o, horizon=H, n_action_steps=T_a,
        drop_n_last_frames=H - T_a - T_o + 1,  # LeRobot's rule (its default 7 is this for 16, 8, 2)
        input_features={"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(2,)),
                        "observation.environment_state": PolicyFeature(type=FeatureType.ENV, shape=(16,))},
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(2,))},
        # ENV is absent from LeRobot's default mapping, which would feed the keypoints unnormalised (0..512): min-max
        # to [-1, 1] like the agent's position, as Chi et al. and dpedu do.
        normalization_mapping={"VISUAL": NormalizationMode.MEAN_STD, "STATE": NormalizationMode.MIN_MAX,
                               "ENV": NormalizationMode.MIN_MAX, "ACTION": NormalizationMode.MIN_MAX},
        down_dims=down_dims, kernel_size=ours["unet_kernel_size"], n_groups=ours["unet_groups"],
        diffusion_step_embed_dim=ours["unet_dim"],  # ours embeds k in unet_dim channels (LeRobot's default: 128)
        use_film_scale_modulation=True,  # FiLM gamma(c) h + b(c), as ours
        noise_scheduler_type=ours["sampler"].upper(), num_train_timesteps=ours["n_diffusion_steps"],
        num_inference_steps=ours["n_inference_steps"], beta_schedule=OUR_SCHEDULES[ours["noise_schedule"]],
        beta_start=ours["beta_start"], beta_end=ours["beta_end"], prediction_type=ours["prediction_type"],
        clip_sample=ours["clip_sample"], clip_sample_range=1.0,
        optimizer_lr=args.lr if args.lr is not None else ours["learning_rate"],
        scheduler_warmup_steps=args.warmup, device=args.device, push_to_hub=False,
    )
    differences += [
        f"chunk: LeRobot's H = {H} actions start at the oldest observation (t - {T_o - 1}) and it executes "
        f"actions {T_o - 1}..{T_o + T_a - 2}; ours start at t (a_t..a_t+{H - 1}), executing the first {T_a}",
        f"optimiser: LeRobot's preset (Adam betas {config.optimizer_betas}, weight decay "
        f"{config.optimizer_weight_decay}, cosine schedule with {config.scheduler_warmup_steps} warm-up updates, "
        f"gradient norm clipped at 10) at lr {config.optimizer_lr}; ours: Adam (0.9, 0.999), constant lr "
        f"{ours['learning_rate']}, clipping {ours['max_grad_norm']}",
        f"EMA: none in LeRobot's DiffusionPolicy; ours acts with an EMA of the weights (decay {ours['ema_decay']})",
        "actions normalised by the dataset's min/max (LeRobot) vs the action space's [0, 512] (ours)",
        "batches: LeRobot's EpisodeAwareSampler (each window once per epoch, the last "
        f"{config.drop_n_last_frames} frames of each episode never a window's start) vs uniform over all steps (ours)",
    ]
    return config, differences


def convert(data: dict, root: Path):
    """The dataset as a LeRobotDataset at root (offline, no videos); returns the time it took."""
    import datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    datasets.disable_progress_bars()  # one "Map" bar per saved episode otherwise
    features = {
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["agent_x", "agent_y"]},
        "observation.environment_state": {"dtype": "float32", "shape": (16,),
                                          "names": [f"keypoint{i}_{c}" for i in range(8) for c in "xy"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["target_x", "target_y"]},
    }
    start = time.perf_counter()
    dataset = LeRobotDataset.create("dpedu/pusht", fps=FPS, features=features, root=root, use_videos=False)
    obs, action, first = data["obs"], data["action"], 0
    for end in data["episode_ends"]:
        for i in range(first, int(end)):
            dataset.add_frame({"observation.state": obs[i, 16:], "observation.environment_state": obs[i, :16],
                               "action": action[i], "task": TASK})
        dataset.save_episode()
        first = int(end)
    dataset.finalize()
    return time.perf_counter() - start


def read_windows(root: Path, config):
    """Every training window lerobot-train would draw, read once through LeRobotDataset.__getitem__.

    Returns (dataset, windows {key: tensor (n, ...)}, seconds). The windows are those of EpisodeAwareSampler with
    the config's drop_n_last_frames, in dataset order."""
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.sampler import EpisodeAwareSampler
    from tqdm.auto import tqdm

    delta = {"observation.state": [i / FPS for i in config.observation_delta_indices],
             "observation.environment_state": [i / FPS for i in config.observation_delta_indices],
             "action": [i / FPS for i in config.action_delta_indices]}
    dataset = LeRobotDataset("dpedu/pusht", root=root, delta_timestamps=delta)
    sampler = EpisodeAwareSampler(dataset.meta.episodes["dataset_from_index"],
                                  dataset.meta.episodes["dataset_to_index"],
                                  drop_n_last_frames=config.drop_n_last_frames, shuffle=False)
    if len(sampler) == 0:
        raise ValueError(f"no training windows: every episode is at most drop_n_last_frames = "
                         f"{config.drop_n_last_frames} steps long")
    keys = ("observation.state", "observation.environment_state", "action", "action_is_pad")
    start, rows = time.perf_counter(), {k: [] for k in keys}
    for i in tqdm(list(sampler), desc="read windows", unit="window", mininterval=2):
        item = dataset[i]
        for k in keys:
            rows[k].append(item[k])
    windows = {k: torch.stack(v) for k, v in rows.items()}
    return dataset, windows, time.perf_counter() - start


def train(policy, preprocessor, windows: dict, config, n_updates: int, batch_size: int, seed: int) -> dict:
    """lerobot-train's update (forward, backward, clip at its preset's norm, Adam, lr scheduler), n_updates times.

    Batches: each epoch a fresh permutation of the windows (EpisodeAwareSampler's shuffle), batch_size at a time;
    a last short batch is used as the DataLoader does (drop_last=False). Returns timings and the loss log."""
    import torch
    from tqdm.auto import tqdm

    optimizer_config = config.get_optimizer_preset()
    optimizer = optimizer_config.build(policy.get_optim_params())
    scheduler = config.get_scheduler_preset().build(optimizer, n_updates)
    generator = torch.Generator().manual_seed(seed)
    n, order, cursor = len(windows["action"]), torch.empty(0, dtype=torch.long), 0
    losses, interrupted = [], False
    policy.train()
    start = time.perf_counter()
    bar = tqdm(total=n_updates, desc="train (LeRobot)", unit="update", mininterval=2)
    try:
        for _ in range(n_updates):
            if cursor >= len(order):
                order, cursor = torch.randperm(n, generator=generator), 0
            index = order[cursor: cursor + batch_size]
            cursor += batch_size
            batch = preprocessor({k: v[index] for k, v in windows.items()})
            loss, _ = policy.forward(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), optimizer_config.grad_clip_norm)
            optimizer.step()
            optimizer.zero_grad()
            scheduler.step()
            losses.append(loss.item())
            bar.update()
    except KeyboardInterrupt:  # keep what was trained: it is evaluated and the record says so
        interrupted = True
    finally:
        bar.close()
    seconds, done = time.perf_counter() - start, len(losses)
    policy.eval()
    tail = losses[-max(1, len(losses) // 10):] if losses else [math.nan]
    return {"updates": done, "train_s": seconds, "updates_per_s": done / seconds if done else 0.0,
            "loss_first": losses[0] if losses else math.nan, "loss_last_10pct": statistics.fmean(tail),
            "interrupted": interrupted}


def evaluate(policy, preprocessor, postprocessor, n_episodes: int, n_action_steps: int) -> dict:
    """select_action on dpedu/PushT-v0 from seeds TEST_START_SEED + i: per-episode max reward (Chi et al.'s score),
    max coverage and success; the time of every select_action that plans (one call in n_action_steps)."""
    import gymnasium as gym
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    import dpedu  # noqa: F401  (registers dpedu/PushT-v0)

    env = gym.make(ENV_ID)
    scores, coverages, successes, steps, plan_s = [], [], [], [], []
    interrupted = False
    try:
        for i in tqdm(range(n_episodes), desc="evaluate", unit="episode"):
            obs, info = env.reset(seed=TEST_START_SEED + i)
            policy.reset()
            rewards, coverage, success, t = [], info["coverage"], info["is_success"], 0
            while True:
                batch = preprocessor({"observation.state": torch.from_numpy(obs[16:]),
                                      "observation.environment_state": torch.from_numpy(obs[:16])})
                start = time.perf_counter()
                with torch.inference_mode():
                    action = policy.select_action(batch)
                if t % n_action_steps == 0:  # select_action plans on its queue's empty calls: t = 0, T_a, 2 T_a...
                    plan_s.append(time.perf_counter() - start)
                action = postprocessor(action)[0].numpy().astype(np.float32)
                obs, reward, terminated, truncated, info = env.step(action)
                rewards.append(reward)
                coverage, success, t = max(coverage, info["coverage"]), success or info["is_success"], t + 1
                if terminated or truncated:
                    break
            scores.append(max(rewards))
            coverages.append(coverage)
            successes.append(bool(success))
            steps.append(t)
    except KeyboardInterrupt:
        interrupted = True
    env.close()
    if not scores:
        raise SystemExit("interrupted before the first evaluation episode ended: nothing to report")
    return {"episodes": len(scores), "score": statistics.fmean(scores), "max_coverage": statistics.fmean(coverages),
            "success": statistics.fmean(successes), "episode_steps_median": statistics.median(steps),
            "plan_ms": 1000 * statistics.median(plan_s), "plans": len(plan_s), "scores": [round(s, 4) for s in scores],
            "eval_interrupted": interrupted}


def versions() -> dict:
    names = ("lerobot", "torch", "torchvision", "diffusers", "datasets", "gymnasium", "gym-pusht", "zarr", "dpedu")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), **found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("dpedu/course/datasets/pusht.zarr.zip"),
                        help="a Push-T dataset in the course's layout (.zarr directory or .zarr.zip)")
    parser.add_argument("--updates", type=int, default=None,
                        help="gradient updates (default: the preset's n_updates, our policy's budget)")
    parser.add_argument("--episodes", type=int, default=50, help="test starts: env seeds 100000 .. 100000 + N - 1")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per update (default: our preset's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (torch.set_num_threads)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed: initial weights, batches, sampling noise")
    parser.add_argument("--preset", default=None, help="key of dpedu.config.PRESETS (default: dpedu/PushT-v0 if "
                                                       "present, else the built-in FALLBACK settings)")
    parser.add_argument("--down-dims", type=int, nargs="+", default=None, help="override the U-Net's widths")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: our preset's)")
    parser.add_argument("--warmup", type=int, default=500, help="LeRobot's lr warm-up updates (its default: 500)")
    parser.add_argument("--device", default="cpu", help="torch device for LeRobot's policy (cpu, cuda)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the LeRobotDataset is written (default: a temporary directory, removed)")
    parser.add_argument("--out", type=Path, default=None, help="also append the JSON line to this .jsonl file")
    args = parser.parse_args()
    for name in ("updates", "episodes", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be >= 1, got {getattr(args, name)}")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="peer_lerobot_"))
    if args.workdir and (workdir / "lerobot").exists():
        raise SystemExit(f"{workdir / 'lerobot'} exists: give an empty --workdir (the dataset is converted anew)")
    os.environ.setdefault("HF_HOME", str(workdir / "hf"))  # HF datasets' parquet cache: not in the home directory
    import torch

    torch.set_num_threads(args.threads)
    torchvision_importable()
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors

    from dpedu.config import DPConfig
    from dpedu.networks import build_network

    try:
        data = read_dataset(args.dataset)
        ours, settings_from, preset_updates = our_settings(args.preset)
        n_updates = args.updates or preset_updates
        if n_updates is None:
            raise SystemExit(f"--updates is needed: {settings_from} names no n_updates")
        batch_size = args.batch_size or ours["batch_size"]
        config, differences = lerobot_config(ours, args)
        convert_s = convert(data, workdir / "lerobot")
        dataset, windows, read_s = read_windows(workdir / "lerobot", config)

        torch.manual_seed(args.seed)
        policy = DiffusionPolicy(config)
        preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=dataset.meta.stats)
        n_params = sum(p.numel() for p in policy.parameters())
        ours_params = sum(p.numel() for p in build_network(DPConfig.from_dict(ours), 18, 2).parameters())

        trained = train(policy, preprocessor, windows, config, n_updates, batch_size, args.seed)
        result = evaluate(policy, preprocessor, postprocessor, args.episodes, config.n_action_steps)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    record = {
        "benchmark": "peer_lerobot", "library": "lerobot", "env_id": ENV_ID,
        "score": round(result["score"], 4), "max_coverage": round(result["max_coverage"], 4),
        "success": round(result["success"], 4), "episodes": result["episodes"],
        "updates": trained["updates"], "updates_asked": n_updates, "batch_size": batch_size,
        "threads": args.threads, "seed": args.seed,
        "updates_per_s": round(trained["updates_per_s"], 3), "train_s": round(trained["train_s"], 1),
        "plan_ms": round(result["plan_ms"], 2), "plans_timed": result["plans"],
        "params": n_params, "params_dpedu_same_settings": ours_params,
        "loss_first": round(trained["loss_first"], 4), "loss_last_10pct": round(trained["loss_last_10pct"], 4),
        "episode_steps_median": result["episode_steps_median"],
        "data_convert_s": round(convert_s, 1), "data_read_s": round(read_s, 1), "windows": len(windows["action"]),
        "dataset": {"path": str(args.dataset), "episodes": len(data["episode_ends"]), "steps": len(data["obs"]),
                    "source": data["attrs"].get("source")},
        "settings_from": settings_from,
        "lerobot_config": {"down_dims": list(config.down_dims), "kernel_size": config.kernel_size,
                           "n_groups": config.n_groups, "diffusion_step_embed_dim": config.diffusion_step_embed_dim,
                           "n_obs_steps": config.n_obs_steps, "horizon": config.horizon,
                           "n_action_steps": config.n_action_steps, "scheduler": config.noise_scheduler_type,
                           "num_train_timesteps": config.num_train_timesteps,
                           "num_inference_steps": config.num_inference_steps, "beta_schedule": config.beta_schedule,
                           "prediction_type": config.prediction_type, "lr": config.optimizer_lr,
                           "lr_warmup": config.scheduler_warmup_steps, "device": config.device},
        "differences": differences,
        "interrupted": trained["interrupted"] or result["eval_interrupted"],
        "scores": result["scores"], "versions": versions(),
    }
    line = json.dumps(record)
    print(line, flush=True)
    if args.out is not None:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
