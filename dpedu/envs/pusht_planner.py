r"""The Push-T demonstrator: a planner that pushes the T home with sampled push primitives. Notebook 08.

The paper's 200 Push-T demonstrations were made by people with a mouse, and no scripted Push-T expert is
published. This planner makes demonstrations of the same kind, from the observation alone, as a person does:
go round to a side of the T, push, look, go round to another side, push again.

The idea: sample pushes, try each in a model, keep the one that makes progress fastest

    1. Read the scene. The T's pose comes from its 8 keypoints (pusht.pose_from_keypoints), the agent's position
       from the observation; the agent's velocity from the planner's own previous targets, since the agent is
       kinematic and its controller deterministic (`agent_step`, the same arithmetic as gym-pusht's step).
    2. Sample N_CANDIDATES = 150 push primitives. A primitive is a contact point on the T's outline (a face, and
       a place on it), a push direction within +-46 degrees of the face's inward normal and a push length of
       3-120 px. Executing it: the target goes round the T's padded corners to a standoff point 6 px off the
       contact (`approach_path`), then heads for the push's end.
    3. Simulate each candidate in a private pymunk model of the scene (`SceneModel`: gym-pusht's bodies,
       shapes and controller, ~45 us per control step where env.step takes ~0.7 ms).
    4. Pick by rate of progress: the drop of the mean distance from the T's keypoints to the goal's over the
       rollout, per control step (approach included). A rollout that reaches coverage > 0.96 wins outright (the
       fewest steps first); otherwise the pick is random among the candidates within `slack` (30%) of the best
       rate, as a person picks a good push rather than the very best one.
    5. Execute the chosen targets open loop, and re-plan at its end or as soon as the real T drifts more than
       DRIFT = 3 px from the model's prediction (pymunk keeps contact impulses from step to step, which a model
       started afresh does not know).

Why a model this simple predicts gym-pusht's scene so well: the space's damping is 0, so the T keeps no
momentum (it stops the moment it is not pushed: quasi-static pushing); friction is set on the bodies, not on
the shapes, so contacts are frictionless (a push acts along the contact normal); and the agent is kinematic,
so its path depends on the targets alone. Started with the env, the model steps exactly as it does, contacts
included (tests/test_pusht.py); set to a state mid-episode, it lacks the contact impulses the env has cached:
hence the drift check.

Variety, as in people's demonstrations: the candidates are random, drawn from the demonstrator's own numpy
Generator, and so is the pick among the good ones: different seeds push different faces first and in different
orders from one start (measured by benchmarks/pusht_demonstrator.py). `primitives` lists what an episode pushed.

The target's lead (`max_lead`): at the push's start the target jumps ahead of the agent (to the push's end),
and a policy must then learn targets far from anything it sees. `max_lead` (px) caps the distance between the
target and the agent, so the targets move smoothly just ahead of the agent as a mouse does; the planner's
rollouts use the same cap, so its choices stay exact. None: no cap.

`act(obs)` acts from the observation alone (18,) (or (1, 18)); one episode at a time: a batch of N > 1 is
refused (the planner keeps one plan). No DART by default; with explore_noise > 0 `explore()` adds Gaussian noise
and clips to the table [0, 512], and the planner tracks the agent from the executed target.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pymunk

from dpedu.envs.demonstrator import Demonstrator
from dpedu.envs.pusht import GOAL_POSE, LOCAL_KEYPOINTS, TABLE, keypoints, pose_from_keypoints

# gym-pusht's scene and controller (gym_pusht/envs/pusht.py: _setup, add_tee, step)
KP, KV, DT, SUBSTEPS = 100.0, 20.0, 0.01, 10  # PD gains, physics step (s), physics steps per control step
AGENT_RADIUS = 15.0
BAR = [(-60.0, 30.0), (60.0, 30.0), (60.0, 0.0), (-60.0, 0.0)]
STEM = [(-15.0, 30.0), (-15.0, 120.0), (15.0, 120.0), (15.0, 30.0)]
WALLS = [((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506))]

# The planner's choices (measured: benchmarks/pusht_demonstrator.py)
N_CANDIDATES = 150          # push primitives simulated per plan
MAX_PUSH_ANGLE = math.radians(46)  # push direction: within this angle of the face's inward normal
PUSH_LENGTH = (3.0, 120.0)  # px the agent travels past the standoff point
GAP = 6.0                   # the standoff: the agent's edge this far off the contact point before a push
DEFAULT_MAX_LEAD = 40.0     # px between target and agent (None: no cap)
SWITCH, ARRIVE = 8.0, 4.0   # px: next waypoint when this close to a corner, push when this close to the standoff
MAX_STEPS = 60              # control steps of one rollout (approach and push)
DEFAULT_SLACK = 0.3         # a plan picks at random among the candidates within this share of the best rate
DRIFT = 3.0                 # px: re-plan when a real keypoint is this far from its prediction
WIN_COVERAGE = 0.96         # a rollout reaching it wins outright (the env's success: 0.95)
CHECK_COVERAGE_BELOW = 4.0  # px of mean keypoint distance: coverage > 0.955 was never seen above 2.6 px

# The T's outline in its body frame, counter-clockwise, with each face's outward normal: the faces a push can
# act on. The concave corners (+-15, 30) leave no room for the agent's standoff next to them.
OUTLINE = np.array([(-60, 0), (60, 0), (60, 30), (15, 30), (15, 120), (-15, 120), (-15, 30), (-60, 30)], float)
PAD = AGENT_RADIUS + GAP  # the standoff point's distance from its face
GOAL_KEYPOINTS = keypoints(GOAL_POSE)  # (8, 2)


def agent_step(x: float, y: float, vx: float, vy: float, tx: float, ty: float) -> tuple[float, float, float, float]:
    """The agent after one control step towards the target (tx, ty): gym-pusht's PD controller, in its order of
    operations (a = kp (target - p) + kv (0 - v); v += a dt; then pymunk moves the kinematic agent p += v dt)."""
    for _ in range(SUBSTEPS):
        vx = vx + (KP * (tx - x) + KV * (0.0 - vx)) * DT
        vy = vy + (KP * (ty - y) + KV * (0.0 - vy)) * DT
        x, y = x + vx * DT, y + vy * DT
    return x, y, vx, vy


class SceneModel:
    """A private pymunk model of gym-pusht's scene: the same walls, agent, T (mass, moment, centre of gravity)
    and controller, built in the same order, so that it steps exactly as the env does while nothing touches.

    `set(state)` places the bodies; `step(target)` runs one control step. state = (agent x, y, vx, vy, block x, y,
    angle, vx, vy, angular velocity): a tuple of 10 floats (the block's velocity is its centre of gravity's)."""

    def __init__(self):
        self.space = pymunk.Space()
        self.space.gravity, self.space.damping = (0, 0), 0.0
        self.space.add(*[pymunk.Segment(self.space.static_body, a, b, 2) for a, b in WALLS])
        self.agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.space.add(self.agent, pymunk.Circle(self.agent, AGENT_RADIUS))
        # gym-pusht adds the bar's moment twice (its add_tee); so do we: the same T.
        self.block = pymunk.Body(1, 2 * pymunk.moment_for_poly(1, BAR))
        self.block_shapes = [pymunk.Poly(self.block, BAR), pymunk.Poly(self.block, STEM)]
        self.block.center_of_gravity = (self.block_shapes[0].center_of_gravity
                                        + self.block_shapes[1].center_of_gravity) / 2
        self.space.add(self.block, *self.block_shapes)
        self._agent = (0.0, 0.0, 0.0, 0.0)

    def set(self, state) -> None:
        ax, ay, avx, avy, bx, by, angle, bvx, bvy, bw = state
        self.agent.position, self.agent.velocity = (ax, ay), (avx, avy)
        self.block.angle = angle  # the angle first: setting it rotates the T about its centre of gravity
        self.block.position, self.block.velocity, self.block.angular_velocity = (bx, by), (bvx, bvy), bw
        # Removing and re-adding the T's shapes forgets the contacts cached by earlier rollouts: each rollout
        # then depends only on its own start state and targets.
        self.space.remove(*self.block_shapes)
        self.space.add(*self.block_shapes)
        self._agent = (ax, ay, avx, avy)

    def step(self, tx: float, ty: float) -> None:
        """One control step towards the target (tx, ty) (SUBSTEPS physics steps of DT)."""
        x, y, vx, vy = self._agent
        for _ in range(SUBSTEPS):
            vx = vx + (KP * (tx - x) + KV * (0.0 - vx)) * DT
            vy = vy + (KP * (ty - y) + KV * (0.0 - vy)) * DT
            self.agent.velocity = (vx, vy)
            self.space.step(DT)
            x, y = x + vx * DT, y + vy * DT  # what pymunk does to a kinematic body: p += v dt
        self._agent = (x, y, vx, vy)

    @property
    def agent_state(self) -> tuple[float, float, float, float]:
        return self._agent

    def block_pose(self) -> tuple[float, float, float]:
        (x, y), angle = self.block.position, self.block.angle
        return x, y, angle

    def state(self) -> tuple:
        (vx, vy), w = self.block.velocity, self.block.angular_velocity
        return (*self._agent, *self.block_pose(), vx, vy, w)


# ---------------------------------------------------------------------------------------------- progress measures

_KEYPOINT_PAIRS = list(zip(LOCAL_KEYPOINTS.tolist(), GOAL_KEYPOINTS.tolist()))  # Python floats: fast in a loop


def keypoint_distance(x: float, y: float, angle: float) -> float:
    """The mean distance (px) from the T's keypoints at pose (x, y, angle) to the goal's: 0 on the goal."""
    c, s = math.cos(angle), math.sin(angle)
    total = 0.0
    for (vx, vy), (gx, gy) in _KEYPOINT_PAIRS:
        total += math.hypot(c * vx - s * vy + x - gx, s * vx + c * vy + y - gy)
    return total / 8


def _clip(polygon: list, a: tuple, b: tuple) -> list:
    """The part of a convex polygon left of the directed line a -> b (one Sutherland-Hodgman pass)."""
    (ax, ay), (bx, by) = a, b
    ex, ey = bx - ax, by - ay
    sides = [ex * (py - ay) - ey * (px - ax) for px, py in polygon]  # > 0: left of the line
    out = []
    q, side_q = polygon[-1], sides[-1]
    for p, side_p in zip(polygon, sides):
        if (side_p >= 0) != (side_q >= 0):  # the edge q -> p crosses the line: keep the crossing point
            t = side_q / (side_q - side_p)
            out.append((q[0] + t * (p[0] - q[0]), q[1] + t * (p[1] - q[1])))
        if side_p >= 0:
            out.append(p)
        q, side_q = p, side_p
    return out


def _area(polygon: list) -> float:
    return 0.5 * sum(polygon[i - 1][0] * p[1] - p[0] * polygon[i - 1][1] for i, p in enumerate(polygon))


def _rectangles(x: float, y: float, angle: float) -> list:
    """The T at a pose as its two rectangles (bar, stem), each a counter-clockwise list of 4 corners."""
    x, y, c, s = float(x), float(y), math.cos(angle), math.sin(angle)  # Python floats: numpy scalars are slow here
    corners = [(c * vx - s * vy + x, s * vx + c * vy + y) for vx, vy in LOCAL_KEYPOINTS.tolist()]
    return [corners[:4], corners[4:]]


GOAL_RECTANGLES = _rectangles(*GOAL_POSE)
T_AREA = 120 * 30 + 30 * 90


def coverage(x: float, y: float, angle: float) -> float:
    """The share of the goal T covered by the T at pose (x, y, angle): the env's coverage (gym-pusht measures it
    with shapely, ~0.4 ms), by clipping each of the T's two rectangles against each of the goal's (~30 us)."""
    overlap = 0.0
    for rectangle in _rectangles(x, y, angle):
        for goal in GOAL_RECTANGLES:
            piece = rectangle
            for i in range(4):
                piece = _clip(piece, goal[i - 1], goal[i])
                if not piece:
                    break
            if len(piece) >= 3:
                overlap += _area(piece)
    return overlap / T_AREA


# ---------------------------------------------------------------------------------------------- going round the T

# In the T's body frame the T padded by a margin m is two axis-aligned boxes (xmin, ymin, xmax, ymax); the agent's
# centre outside the boxes padded by PAD - 0.5 keeps its edge ~5.5 px off the T. Paths bend at the padded T's six
# convex corners, placed at PAD + 0.5 so that the segments between them stay outside the boxes.
def _boxes(m: float) -> list:
    return [(-60 - m, -m, 60 + m, 30 + m), (-15 - m, 30 - m, 15 + m, 120 + m)]


BOXES = _boxes(PAD - 0.5)
_m = PAD + 0.5
CORNERS = [(-60 - _m, -_m), (60 + _m, -_m), (60 + _m, 30 + _m), (15 + _m, 120 + _m), (-15 - _m, 120 + _m),
           (-60 - _m, 30 + _m)]


def inside_padded_t(p: tuple) -> bool:
    """Whether the point p (body frame) is inside the padded T: an agent centred there is within ~5.5 px of it."""
    return any(x0 < p[0] < x1 and y0 < p[1] < y1 for x0, y0, x1, y1 in BOXES)


def crosses_padded_t(p: tuple, q: tuple) -> bool:
    """Whether the segment p -> q passes through the inside of a padded box (Liang-Barsky clipping)."""
    for x0, y0, x1, y1 in BOXES:
        t0, t1 = 0.0, 1.0
        for start, delta, lo, hi in ((p[0], q[0] - p[0], x0, x1), (p[1], q[1] - p[1], y0, y1)):
            if abs(delta) < 1e-12:
                if not lo < start < hi:
                    t0, t1 = 1.0, 0.0
                    break
            else:
                a, b = (lo - start) / delta, (hi - start) / delta
                t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 < t1 - 1e-9:
            return True
    return False


def _corner_paths() -> tuple[np.ndarray, list]:
    """Shortest distances between the padded corners along visible segments, and the next corner on each path
    (Floyd-Warshall on the six corners; computed once)."""
    n = len(CORNERS)
    dist = np.full((n, n), np.inf)
    nxt = [[j for j in range(n)] for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if i == j or not crosses_padded_t(CORNERS[i], CORNERS[j]):
                dist[i, j] = math.dist(CORNERS[i], CORNERS[j])
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if dist[i, k] + dist[k, j] < dist[i, j]:
                    dist[i, j], nxt[i][j] = dist[i, k] + dist[k, j], nxt[i][k]
    return dist, nxt


CORNER_DIST, CORNER_NEXT = _corner_paths()


def _retreat(p: tuple) -> tuple:
    """The nearest point outside the padded boxes (at the corners' margin) from p inside them, straight along an
    axis: where the agent backs off to after a push."""
    outer = _boxes(PAD + 0.5)
    options = []
    for x0, y0, x1, y1 in outer:
        if x0 < p[0] < x1 and y0 < p[1] < y1:
            options += [(x0, p[1]), (x1, p[1]), (p[0], y0), (p[0], y1)]
    options = [q for q in options if not inside_padded_t(q)] or CORNERS  # a point deep inside: go to a corner
    return min(options, key=lambda q: math.dist(p, q))


def approach_path(start: tuple, goal: tuple) -> list:
    """Waypoints (body frame) from the agent's start to the standoff point `goal`, round the padded T: back off
    first if the agent is against the T, then straight if nothing is in the way, else via the padded corners on
    the shortest such path. The last waypoint is `goal`."""
    path = []
    if inside_padded_t(start):
        start = _retreat(start)
        path.append(start)
    if not crosses_padded_t(start, goal):
        return [*path, goal]
    best, via = math.inf, None
    seen_from_start = [i for i, c in enumerate(CORNERS) if not crosses_padded_t(start, c)]
    seen_from_goal = [j for j, c in enumerate(CORNERS) if not crosses_padded_t(c, goal)]
    for i in seen_from_start:
        for j in seen_from_goal:
            length = math.dist(start, CORNERS[i]) + CORNER_DIST[i, j] + math.dist(CORNERS[j], goal)
            if length < best:
                best, via = length, (i, j)
    if via is None:  # not seen (from outside the padded T some corner is always in sight): go straight
        return [*path, goal]
    i, j = via
    path.append(CORNERS[i])
    while i != j:
        i = CORNER_NEXT[i][j]
        path.append(CORNERS[i])
    return [*path, goal]


# ---------------------------------------------------------------------------------------------- push primitives

def _contact_ranges() -> list:
    """Per face of OUTLINE: (start, unit tangent, outward normal, usable from, usable to) in px along the face:
    the part whose standoff point has room for the agent (not within PAD of a concave corner)."""
    faces = []
    concave = {(15.0, 30.0), (-15.0, 30.0)}
    for a, b in zip(OUTLINE.tolist(), np.roll(OUTLINE, -1, axis=0).tolist()):
        length = math.dist(a, b)
        tangent = ((b[0] - a[0]) / length, (b[1] - a[1]) / length)
        normal = (tangent[1], -tangent[0])  # outward for a counter-clockwise outline
        faces.append((tuple(a), tangent, normal, PAD if tuple(a) in concave else 0.0,
                      length - PAD if tuple(b) in concave else length))
    return faces


FACES = _contact_ranges()
FACE_WEIGHTS = np.array([hi - lo for *_, lo, hi in FACES]) / sum(hi - lo for *_, lo, hi in FACES)


class Primitive:
    """One push, in the T's body frame: the face pushed, the contact point on it, the standoff point PAD off the
    contact, the push's direction and its end (the standoff point + (GAP + length) along the direction)."""

    __slots__ = ("face", "contact", "standoff", "direction", "end")

    def __init__(self, face: int, along: float, angle: float, length: float):
        (ax, ay), (tx, ty), (nx, ny), _, _ = FACES[face]
        c, s = math.cos(angle), math.sin(angle)
        self.face = face
        self.contact = (ax + along * tx, ay + along * ty)
        self.standoff = (self.contact[0] + PAD * nx, self.contact[1] + PAD * ny)
        self.direction = (-c * nx + s * ny, -s * nx - c * ny)  # the inward normal -n turned by angle
        self.end = (self.standoff[0] + (GAP + length) * self.direction[0],
                    self.standoff[1] + (GAP + length) * self.direction[1])

    def as_list(self) -> list:
        return [self.face, *self.contact, *self.direction, *self.end]


def sample_primitives(rng: np.random.Generator, n: int) -> list[Primitive]:
    """n random push primitives: a face (in proportion to its usable length), a point on it, a direction within
    MAX_PUSH_ANGLE of its inward normal and a length in PUSH_LENGTH, all uniform."""
    faces = rng.choice(len(FACES), size=n, p=FACE_WEIGHTS)
    along = rng.uniform(size=n)
    angles = rng.uniform(-MAX_PUSH_ANGLE, MAX_PUSH_ANGLE, size=n)
    lengths = rng.uniform(*PUSH_LENGTH, size=n)
    out = []
    for f, u, ang, length in zip(faces.tolist(), along.tolist(), angles.tolist(), lengths.tolist()):
        _, _, _, lo, hi = FACES[f]
        out.append(Primitive(f, lo + u * (hi - lo), ang, length))
    return out


# ---------------------------------------------------------------------------------------------- the demonstrator

class PushTDemonstrator(Demonstrator):
    """Pushes the T home with sampled push primitives, planned in a model of the scene (module docstring).

    act(obs (18,)) -> target (2,) float32: the T's 8 keypoints then the agent's x, y, as dpedu/PushT-v0 observes
    them. One episode at a time (a batch of N > 1 is refused); reset() at the start of each episode.

    Args:
        seed: seeds the numpy Generator of the sampled primitives (and of explore()'s noise): different seeds,
            different demonstrations from one start.
        explore_noise: std (px) of the Gaussian noise explore() adds to an executed target (then clipped to
            [0, 512]); None: 0, no DART.
        max_lead: the most (px) a target may lead the agent (module docstring); None: no cap. Default 40.
        slack: a plan picks at random among the candidates whose rate of progress is within this share of the
            best (0: always the best); in [0, 1), default 0.3.
        n_candidates: push primitives simulated per plan (150).
    """

    OBS_DIM, OBS_NAMES = 18, "the T's 8 keypoints x0, y0, ..., x7, y7 then the agent's x, y"
    ACTION_BOUND = TABLE
    CHOICES = "plan"
    DEFAULT_EXPLORE_NOISE = 0.0
    ONE_EPISODE_AT_A_TIME = True  # evaluate's demonstrator baseline steps it in single-env batches

    def __init__(self, seed: int | None = None, explore_noise: float | None = None,
                 max_lead: float | None = DEFAULT_MAX_LEAD, slack: float = DEFAULT_SLACK,
                 n_candidates: int = N_CANDIDATES):
        super().__init__(seed=seed, explore_noise=explore_noise)
        if max_lead is not None and (isinstance(max_lead, bool) or not isinstance(max_lead, numbers.Real)
                                     or not (math.isfinite(max_lead) and max_lead > 0)):
            raise ValueError(f"max_lead must be None (no cap) or a finite number of px > 0, got {max_lead!r}")
        if isinstance(slack, bool) or not isinstance(slack, numbers.Real) or not 0 <= slack < 1:
            raise ValueError(f"slack must be a number in [0, 1), got {slack!r}")
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, numbers.Integral) or n_candidates < 1:
            raise ValueError(f"n_candidates must be an int >= 1, got {n_candidates!r}")
        self.max_lead = None if max_lead is None else float(max_lead)
        self.slack, self.n_candidates = float(slack), int(n_candidates)
        self.model = SceneModel()
        self._new_episode()

    def _new_episode(self) -> None:
        self._plan: dict | None = None  # {"targets": [(x, y)], "states": [state after each target], "index": i}
        self._agent: tuple | None = None  # the agent (x, y, vx, vy) predicted after the executed target
        self._seen: tuple | None = None   # the agent's last observed position
        self._from: tuple | None = None   # the agent (x, y, vx, vy) when the last target was chosen
        self.primitives: list[list] = []  # [step, face, contact x, y, direction x, y, end x, y] per plan (body frame)
        self.steps = 0

    def reset(self) -> None:
        """Start a new episode: forget the plan and the agent's tracked velocity."""
        super().reset()
        self._new_episode()

    # ------------------------------------------------------------------ reading the scene

    def _read(self, obs: np.ndarray) -> tuple:
        """The scene's state (SceneModel.set's 10 numbers) from an observation (18,), and the observed keypoints."""
        kp = obs[:16].reshape(8, 2)
        bx, by, angle = pose_from_keypoints(kp)
        ax, ay = float(obs[16]), float(obs[17])
        if self._agent is not None and math.hypot(ax - self._agent[0], ay - self._agent[1]) < 1e-3:
            agent = self._agent  # as predicted from the executed targets: exact, and with its velocity
        elif self._seen is not None:  # someone else moved the agent: its mean velocity over the last step
            agent = (ax, ay, (ax - self._seen[0]) / (SUBSTEPS * DT), (ay - self._seen[1]) / (SUBSTEPS * DT))
        else:  # the episode's first step: gym-pusht starts the agent at rest
            agent = (ax, ay, 0.0, 0.0)
        block_velocity = (0.0, 0.0, 0.0)
        plan = self._plan
        if plan is not None and plan["index"] > 0:  # the T's velocity as predicted (zero once it is not pushed)
            block_velocity = tuple(plan["states"][plan["index"] - 1][7:])
        return tuple(float(v) for v in (*agent, bx, by, angle, *block_velocity)), kp

    def _drifted(self, kp: np.ndarray) -> bool:
        plan = self._plan
        if plan is None or plan["index"] == 0 or plan["index"] >= len(plan["targets"]):
            return True  # no plan, or its end
        predicted = keypoints(plan["states"][plan["index"] - 1][4:7])
        return float(np.max(np.linalg.norm(predicted - kp, axis=1))) > DRIFT

    # ------------------------------------------------------------------ planning

    def _target(self, agent: tuple, goal) -> tuple[float, float]:
        """The target towards `goal` (world frame) for an agent at (x, y): at most max_lead ahead of it, on the
        table, rounded to float32 as the env receives it."""
        gx, gy = float(goal[0]), float(goal[1])
        if self.max_lead is not None:
            dx, dy = gx - agent[0], gy - agent[1]
            d = math.hypot(dx, dy)
            if d > self.max_lead:
                gx, gy = agent[0] + dx * self.max_lead / d, agent[1] + dy * self.max_lead / d
        gx, gy = min(max(gx, 0.0), TABLE), min(max(gy, 0.0), TABLE)
        return float(np.float32(gx)), float(np.float32(gy))

    def rollout(self, start: tuple, primitive: Primitive, n_steps: int = MAX_STEPS, record: bool = False) -> dict:
        """Simulate a primitive from `start` (SceneModel.set's 10 numbers) in the model: round the T to the standoff
        point, then push, until the agent reaches the push's end or n_steps control steps have passed.

        Returns {"score": the rate of progress at the end, (d_0 - d_end) / steps in px per control step (-inf if the
        push never began; a win, coverage > 0.96: 1e6 minus its steps, ending there), "steps"}; with record=True
        also "targets" and "states" (SceneModel.state after each target)."""
        model = self.model
        model.set(start)
        bx, by, angle = start[4:7]
        c, s = math.cos(angle), math.sin(angle)

        def world(p):  # body frame -> world, at the T's pose when the plan begins
            return c * p[0] - s * p[1] + bx, s * p[0] + c * p[1] + by

        local_agent = (c * (start[0] - bx) + s * (start[1] - by), -s * (start[0] - bx) + c * (start[1] - by))
        waypoints = [world(p) for p in approach_path(local_agent, primitive.standoff)]
        end = world(primitive.end)
        d0 = d = keypoint_distance(bx, by, angle)
        k, pushing, targets, states = 0, False, [], []
        for step in range(1, n_steps + 1):
            ax, ay = model.agent_state[:2]
            if not pushing:  # the next waypoint once near this one; the push once near the standoff point
                while k < len(waypoints) - 1 and math.dist((ax, ay), waypoints[k]) < SWITCH:
                    k += 1
                pushing = k == len(waypoints) - 1 and math.dist((ax, ay), waypoints[k]) < ARRIVE
            tx, ty = self._target((ax, ay), end if pushing else waypoints[k])
            model.step(tx, ty)
            if record:
                targets.append((tx, ty))
                states.append(model.state())
            pose = model.block_pose()
            d = keypoint_distance(*pose)
            if d < CHECK_COVERAGE_BELOW and coverage(*pose) > WIN_COVERAGE:
                return {"score": 1e6 - step, "steps": step, "targets": targets, "states": states}
            if pushing and math.dist(model.agent_state[:2], end) < ARRIVE:
                break
        score = (d0 - d) / step if pushing else -math.inf
        return {"score": score, "steps": step, "targets": targets, "states": states}

    def plan(self, start: tuple) -> dict:
        """Sample n_candidates primitives, simulate each from `start`, pick one by rate of progress: at random among
        those within `slack` of the best rate (a win, or no progress at all: the best). Returns the plan: the
        chosen rollout's targets and predicted states."""
        candidates = sample_primitives(self._rng, self.n_candidates)
        scores = [self.rollout(start, p)["score"] for p in candidates]
        best = max(scores)
        if 0 < best < 1e5:
            good = [j for j, score in enumerate(scores) if score >= (1 - self.slack) * best]
            i = good[int(self._rng.integers(len(good)))]
        else:
            i = scores.index(best)
        chosen = self.rollout(start, candidates[i], record=True)  # again, recording: the model is deterministic
        self.primitives.append([self.steps, *candidates[i].as_list()])
        return {"targets": chosen["targets"], "states": chosen["states"], "index": 0}

    # ------------------------------------------------------------------ acting

    def act(self, obs) -> np.ndarray:
        """The target (2,) float32 for observation obs (18,) (or (1, 18) -> (1, 2))."""
        x, single = self.observations(obs)
        if len(x) != 1:
            raise ValueError(f"PushTDemonstrator plans one episode at a time: obs must be one observation (18,) "
                             f"or (1, 18), got a batch of {len(x)}")
        start, kp = self._read(x[0])
        if self._drifted(kp):
            self._plan = self.plan(start)
        plan = self._plan
        target = plan["targets"][plan["index"]]
        plan["index"] += 1
        self._seen = (float(x[0, 16]), float(x[0, 17]))
        self._from = start[:4]
        self._agent = agent_step(*self._from, *target)
        self.steps += 1
        action = np.array(target, dtype=np.float32)
        return action if single else action[None]

    def explore(self, action: np.ndarray) -> np.ndarray:
        """The executed target: the label plus Gaussian noise of std explore_noise, clipped to [0, 512] (the
        label itself at noise 0). The agent is then tracked from the executed target."""
        if self.explore_noise == 0.0:
            return action
        noisy = np.clip(action + self.explore_noise * self._rng.standard_normal(np.shape(action)), 0.0, TABLE)
        noisy = noisy.astype(np.float32)
        if self._from is not None:
            self._agent = agent_step(*self._from, *np.asarray(noisy, np.float64).reshape(2).tolist())
        return noisy

    # ------------------------------------------------------------------ state (plain Python: weights_only loads it)

    def __getstate__(self) -> dict:
        # pymunk's space does not pickle (cffi); the model keeps nothing between rollouts, so a copy builds its own
        # (copy.deepcopy, or a process pool handing the demonstrator to its workers).
        return {k: v for k, v in self.__dict__.items() if k != "model"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.model = SceneModel()

    STATE_KEYS = ("rng", "plan", "agent", "seen", "from", "primitives", "steps")

    def state_dict(self) -> dict:
        """The Generator's state and what the planner keeps between steps: the current plan (targets, predicted
        states, the next index), the tracked agent, the episode's primitives and step count."""
        plan = self._plan
        return {"rng": self._rng.bit_generator.state,
                "plan": None if plan is None else {"targets": [list(t) for t in plan["targets"]],
                                                   "states": [list(s) for s in plan["states"]],
                                                   "index": plan["index"]},
                "agent": None if self._agent is None else list(self._agent),
                "seen": None if self._seen is None else list(self._seen),
                "from": None if self._from is None else list(self._from),
                "primitives": [list(p) for p in self.primitives], "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != set(self.STATE_KEYS):
            raise ValueError(f"a PushTDemonstrator state needs the keys {list(self.STATE_KEYS)}, got "
                             f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")

        def as_tuple(values):
            return None if values is None else tuple(float(v) for v in values)

        plan = state["plan"]
        self._rng.bit_generator.state = state["rng"]
        self._plan = None if plan is None else {"targets": [as_tuple(t) for t in plan["targets"]],
                                                "states": [as_tuple(s) for s in plan["states"]],
                                                "index": int(plan["index"])}
        self._agent, self._seen, self._from = as_tuple(state["agent"]), as_tuple(state["seen"]), as_tuple(state["from"])
        self.primitives = [list(p) for p in state["primitives"]]
        self.steps = int(state["steps"])
