"""Exercise (notebook 04): one training update of the trainer, the DDPM loss, an Adam step, then the EMA."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F

from dpedu.course.exercises.checking import Passed, reports_not_attempted
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks.mlp import MLPDenoiser
from dpedu.trainer import AdamWithEMA, diffusion_loss, fused_adam_supported

SIGNATURE = "training_update(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay)"
EQUATION = ("optimizer.zero_grad(); loss = diffusion_loss(model, schedule, obs, a0, k, eps); loss.backward(); "
            "optimizer.step(); then theta_ema <- ema_decay theta_ema + (1 - ema_decay) theta; return loss.item()")


def reference_training_update(model: torch.nn.Module, ema_model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                              schedule: NoiseSchedule, obs: torch.Tensor, a0: torch.Tensor, k: torch.Tensor,
                              eps: torch.Tensor, ema_decay: float) -> float:
    """One gradient update of eps_theta on a batch, then the exponential moving average of the weights.

        loss      = mean || eps - eps_theta(sqrt(alpha_bar_k) a0 + sqrt(1 - alpha_bar_k) eps, k, obs) ||^2
        theta     <- Adam(theta, d loss / d theta)
        theta_ema <- ema_decay theta_ema + (1 - ema_decay) theta      (after the step: it averages the new weights)

    obs (B, To, obs_dim), a0 and eps (B, H, act_dim), k (B,). Returns the loss as a Python float.
    """
    optimizer.zero_grad()  # gradients accumulate in .grad: clear the previous update's
    loss = diffusion_loss(model, schedule, obs, a0, k, eps)
    loss.backward()
    optimizer.step()
    with torch.no_grad():  # the average is bookkeeping, not part of the graph
        for p_ema, p in zip(ema_model.parameters(), model.parameters()):
            p_ema.mul_(ema_decay).add_((1 - ema_decay) * p)
    return loss.item()


# ------------------------------------------------------------------ the usual mistakes, written as a learner would

def _ema(ema_model, model, decay) -> None:
    with torch.no_grad():
        for p_ema, p in zip(ema_model.parameters(), model.parameters()):
            p_ema.mul_(decay).add_((1 - decay) * p)


def _ema_before_step(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
    optimizer.zero_grad()
    loss = diffusion_loss(model, schedule, obs, a0, k, eps)
    loss.backward()
    _ema(ema_model, model, ema_decay)
    optimizer.step()
    return loss.item()


def _ema_swapped(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
    optimizer.zero_grad()
    loss = diffusion_loss(model, schedule, obs, a0, k, eps)
    loss.backward()
    optimizer.step()
    _ema(ema_model, model, 1 - ema_decay)
    return loss.item()


def _no_zero_grad(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
    loss = diffusion_loss(model, schedule, obs, a0, k, eps)
    loss.backward()
    optimizer.step()
    _ema(ema_model, model, ema_decay)
    return loss.item()


def _ema_copies(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
    optimizer.zero_grad()
    loss = diffusion_loss(model, schedule, obs, a0, k, eps)
    loss.backward()
    optimizer.step()
    ema_model.load_state_dict(model.state_dict())
    return loss.item()


def _no_ema(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
    optimizer.zero_grad()
    loss = diffusion_loss(model, schedule, obs, a0, k, eps)
    loss.backward()
    optimizer.step()
    return loss.item()


def _with_loss(loss_fn):
    def update(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
        optimizer.zero_grad()
        loss = loss_fn(model(schedule.add_noise(a0, k, eps), k, obs), a0, eps)
        loss.backward()
        optimizer.step()
        _ema(ema_model, model, ema_decay)
        return loss.item()

    return update


MISTAKES: list[tuple[str, Callable[..., float]]] = [
    ("the EMA is taken before optimizer.step(): it averages the old weights and lags one update behind. Step "
     "first, then theta_ema <- ema_decay theta_ema + (1 - ema_decay) theta.", _ema_before_step),
    ("ema_decay and 1 - ema_decay are swapped: the average keeps ema_decay of its *own* weights, theta_ema <- "
     "ema_decay theta_ema + (1 - ema_decay) theta (with ema_decay near 1 it moves slowly).", _ema_swapped),
    ("the gradients are never cleared: .backward() adds into .grad, so from the second update on the step uses "
     "the sum of every batch's gradient. Call optimizer.zero_grad() before loss.backward().", _no_zero_grad),
    ("the EMA copies theta (theta_ema <- theta): it must average, theta_ema <- ema_decay theta_ema + "
     "(1 - ema_decay) theta, so that it smooths the last ~1 / (1 - ema_decay) updates.", _ema_copies),
    ("the EMA weights never change: after optimizer.step(), update every parameter of ema_model, "
     "theta_ema <- ema_decay theta_ema + (1 - ema_decay) theta (under torch.no_grad()).", _no_ema),
    ("the loss's target is a0, the clean chunk x^0: eps_theta predicts the noise, so the target is eps; use "
     "diffusion_loss(model, schedule, obs, a0, k, eps).", _with_loss(lambda pred, a0, eps: F.mse_loss(pred, a0))),
    ("the loss sums the squared errors: it is their mean (F.mse_loss, as diffusion_loss does), so that its value "
     "does not grow with the batch.", _with_loss(lambda pred, a0, eps: ((pred - eps) ** 2).sum())),
]


# ------------------------------------------------------------------ the cases and the package's own update

LEARNING_RATE = 1e-2


def _setup(seed: int, kind: str, ema_decay: float):
    """Fresh (model, ema_model, optimizer, schedule, batches, ema_decay) for one case: small seeded MLPDenoisers,
    two batches (obs, a0, k, eps) with k in 1..K-1."""
    act_dim, horizon, obs_dim, obs_horizon = 2, 4, 3, 2
    with torch.random.fork_rng():  # seeded weights without touching the learner's random state
        torch.manual_seed(seed)
        model = MLPDenoiser(act_dim, horizon, obs_dim, obs_horizon, hidden_dim=16, n_layers=2)
        ema_model = MLPDenoiser(act_dim, horizon, obs_dim, obs_horizon, hidden_dim=16, n_layers=2)
    ema_model.requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, fused=fused_adam_supported("cpu"))
    schedule = NoiseSchedule(50, kind)
    g = torch.Generator().manual_seed(seed)
    batches = []
    for ks in ([1, 12, 30, 48], [2, 25, 40, 49]):
        obs = torch.randn(len(ks), obs_horizon, obs_dim, generator=g)  # (B, To, obs_dim)
        a0 = torch.rand(len(ks), horizon, act_dim, generator=g) * 2 - 1  # (B, H, act_dim) in [-1, 1]
        batches.append((obs, a0, torch.tensor(ks), torch.randn(a0.shape, generator=g)))
    return model, ema_model, optimizer, schedule, batches, ema_decay


CASES = [(0, "cosine", 0.9), (1, "linear", 0.75)]


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def _record(update: Callable[..., float], seed: int, kind: str, ema_decay: float) -> list[tuple]:
    """(loss, theta, theta_ema) after each of two updates made by update(...)."""
    model, ema_model, optimizer, schedule, batches, decay = _setup(seed, kind, ema_decay)
    record = []
    for obs, a0, k, eps in batches:
        loss = update(model, ema_model, optimizer, schedule, obs, a0, k, eps, decay)
        record.append((loss, _flat(model), _flat(ema_model)))
    return record


def _truth(seed: int, kind: str, ema_decay: float) -> list[tuple]:
    """The trainer's own update, AdamWithEMA.update(diffusion_loss(...)), on the same fresh copies.

    AdamWithEMA ramps its decay up over the first updates, min(ema_decay, (1 + n) / (10 + n)); with n_updates set
    past the ramp the decay is ema_decay itself, the rule this exercise asks for. It averages the parameters (not
    the buffers, which do not train).
    """
    model, ema_model, _, schedule, batches, decay = _setup(seed, kind, ema_decay)
    updater = AdamWithEMA(model, LEARNING_RATE, ema_decay=decay)
    updater.ema_model.load_state_dict(ema_model.state_dict())
    updater.n_updates = 10**9  # past the warm-up ramp
    record = []
    for obs, a0, k, eps in batches:
        loss = diffusion_loss(model, schedule, obs, a0, k, eps)
        updater.update(loss)
        record.append((loss.item(), _flat(model), _flat(updater.ema_model)))
    return record


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return all(abs(la - lb) <= 1e-5 * abs(lb) + 1e-7 and torch.allclose(ta, tb, rtol=1e-4, atol=1e-6)
               and torch.allclose(ea, eb, rtol=1e-4, atol=1e-6) for (la, ta, ea), (lb, tb, eb) in zip(a, b))


def _first_difference(got: list[tuple], expected: list[tuple]) -> str:
    for call, ((lg, tg, eg), (le, te, ee)) in enumerate(zip(got, expected), start=1):
        if abs(lg - le) > 1e-5 * abs(le) + 1e-7:
            return f"call {call}: the returned loss is {lg:.6g}, expected {le:.6g}"
        if not torch.allclose(tg, te, rtol=1e-4, atol=1e-6):
            return f"call {call}: the model's weights differ from the trainer's by up to {(tg - te).abs().max():.3g}"
        if not torch.allclose(eg, ee, rtol=1e-4, atol=1e-6):
            return f"call {call}: the EMA weights differ from the trainer's by up to {(eg - ee).abs().max():.3g}"
    return "no difference"


@reports_not_attempted("training_update")
def check_training_update(fn: Callable[..., float]) -> Passed:
    """Check the learner's update against the trainer's AdamWithEMA.update(diffusion_loss(...)), over two calls
    on the same model (a missing zero_grad shows only on the second)."""
    for seed, kind, ema_decay in CASES:
        where = f"two updates of a small MLPDenoiser, {kind} schedule (K = 50), ema_decay = {ema_decay}"
        model, ema_model, optimizer, schedule, batches, decay = _setup(seed, kind, ema_decay)
        got = []
        for call, (obs, a0, k, eps) in enumerate(batches, start=1):
            copies = [x.clone() for x in (obs, a0, k, eps)]
            try:
                loss = fn(model, ema_model, optimizer, schedule, *copies, decay)
            except NotImplementedError:
                raise
            except Exception as e:
                raise AssertionError(f"{SIGNATURE} raised {type(e).__name__} on call {call} of {where}:"
                                     f"\n    {e}") from e
            for name, x, kept in zip(("obs", "a0", "k", "eps"), (obs, a0, k, eps), copies):
                if not torch.equal(x, kept):
                    raise AssertionError(f"{SIGNATURE} changed its input `{name}` in place: leave the batch as it "
                                         "is (the trainer samples a new one each update).")
            if loss is None:
                raise AssertionError(f"{SIGNATURE} returned None: return the loss as a float, loss.item().")
            if isinstance(loss, torch.Tensor):
                raise AssertionError(f"{SIGNATURE} returned a tensor: return loss.item(), a Python float (a tensor "
                                     "kept across updates would keep each update's graph alive).")
            if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
                raise AssertionError(f"{SIGNATURE} returned a {type(loss).__name__}: return loss.item(), a float.")
            got.append((float(loss), _flat(model), _flat(ema_model)))
        expected = _truth(seed, kind, ema_decay)
        if _same(got, expected):
            continue
        message = None
        for says, update in MISTAKES:
            wrong = _record(update, seed, kind, ema_decay)
            if _same(got, wrong) and not _same(wrong, expected):
                message = says
                break
        message = message or f"{_first_difference(got, expected)}; none of the common mistakes matches."
        raise AssertionError(f"{SIGNATURE} is wrong on {where}:\n  {message}\n  Expected: {EQUATION}")
    return Passed(f"Correct: {SIGNATURE} matches the trainer's AdamWithEMA.update on {len(CASES)} cases of two "
                  "updates each (loss, weights and EMA weights).")
