"""The built-in tasks, each an environment with a demonstrator that generates its training data.

    pendulum.py      gymnasium's Pendulum-v1 and its energy-shaping + LQR demonstrator       (notebook 03)
    detour.py        dpedu/Detour-v0 (registered on import): round a disk on either side    (notebook 05)
                     and dpedu/DetourPosition-v0, the same task under position control       (notebook 11)
    latency.py       ObservationLatency: the policy sees o_{t-d} while the world is at o_t   (notebook 11)
    pauses.py        Pausing: any demonstrator, made to stand still for random stretches     (notebook 11)
    pusht.py         dpedu/PushT-v0: gym-pusht's Push-T with Chi et al.'s keypoint observation (notebook 08)
    pusht_planner.py its demonstrator: sampled push primitives tried in a pymunk model of the scene
    demonstrator.py  the Demonstrator base: seeding, reset, the batch rule, DART's explore, state_dict;
                     each task's demonstrator writes only its act (the label)

`make_demonstrator(env_id, seed, explore_noise)` builds the one for a task. `import dpedu` registers
dpedu/Detour-v0 and dpedu/PushT-v0 with gymnasium (dpedu/__init__.py), without importing this package.
"""

from __future__ import annotations

from dpedu.envs import detour, pusht
from dpedu.envs.demonstrator import Demonstrator
from dpedu.envs.detour import DetourDemonstrator, DetourPositionDemonstrator
from dpedu.envs.pendulum import PendulumDemonstrator
from dpedu.envs.pusht_planner import PushTDemonstrator

DEMONSTRATORS = {"Pendulum-v1": PendulumDemonstrator, "dpedu/Detour-v0": DetourDemonstrator,
                 "dpedu/DetourPosition-v0": DetourPositionDemonstrator, "dpedu/PushT-v0": PushTDemonstrator}
# Per task, optionally: the rollouts (evaluate.rollouts' dict: observations, actions, rewards of each episode) -> a
# dict of measures that evaluate_policy adds to its result.
# (Detour's positions: the observations, or the env's state where a pixel policy observed frames only.)
def _detour_measures(episodes: dict) -> dict:
    return detour.episode_measures(
        episodes["observations"] if episodes["observations"][0].shape[-1] == 2 else episodes["states"])


EPISODE_MEASURES = {"dpedu/Detour-v0": _detour_measures, "dpedu/DetourPosition-v0": _detour_measures,
                    "dpedu/PushT-v0": pusht.episode_measures}

# Per task that can be observed from pixels: a recorded episode (Demonstrations.episode's dict) -> (frames (L, H, W, C)
# uint8, agent positions (L, d)), drawn as the env draws its pixel observations (dpedu.datasets.render_frames).
FRAME_RENDERERS = {"dpedu/Detour-v0": detour.episode_frames, "dpedu/PushT-v0": pusht.episode_frames}


def make_demonstrator(env_id: str, seed: int | None = None, explore_noise: float | None = None) -> Demonstrator:
    """The built-in demonstrator for `env_id` (a key of DEMONSTRATORS), its random choices seeded by `seed`;
    explore_noise: the std of the DART noise its explore() adds (None: the task's default, 0 for Pendulum-v1,
    0.4 for dpedu/Detour-v0 and 0.02 (in position units) for dpedu/DetourPosition-v0, 0 for dpedu/PushT-v0)."""
    if env_id not in DEMONSTRATORS:
        raise ValueError(f"no built-in demonstrator for env id {env_id!r}; supported ids: {', '.join(DEMONSTRATORS)}")
    return DEMONSTRATORS[env_id](seed=seed, explore_noise=explore_noise)


__all__ = ["DEMONSTRATORS", "EPISODE_MEASURES", "FRAME_RENDERERS", "Demonstrator", "DetourDemonstrator",
           "DetourPositionDemonstrator",
           "PendulumDemonstrator", "PushTDemonstrator", "make_demonstrator"]
