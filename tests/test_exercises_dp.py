"""The checkers of the exercises on Diffusion Policy itself (obs_window, training_update, receding_horizon, film,
unet_lengths): the reference solutions and other right forms pass; each usual mistake, written as a learner would
write it, is caught and named; an open exercise reports "not attempted"; other errors, wrong shapes, None and
in-place edits are reported."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dpedu.course.exercises import (
    NotAttempted,
    check_attention,
    check_film,
    check_info_nce,
    check_obs_window,
    check_receding_horizon,
    check_training_update,
    check_unet_lengths,
    reference_attention,
    reference_film,
    reference_info_nce,
    reference_obs_window,
    reference_receding_horizon,
    reference_training_update,
    reference_unet_lengths,
)
from dpedu.course.exercises import training_update as training_update_module
from dpedu.data import window_indices
from dpedu.policy import RecedingHorizon
from dpedu.trainer import diffusion_loss

CHECKS = [check_obs_window, check_training_update, check_receding_horizon, check_film, check_unet_lengths,
          check_info_nce, check_attention]


# ---------------------------------------------------------------------------------------------------------------
# Right answers pass, in several forms.
# ---------------------------------------------------------------------------------------------------------------


def attention_by_multihead(q, k, v, mask):
    """One head of torch's own layer with its projections set to the identity: what the transformer runs."""
    d = q.shape[-1]
    layer = torch.nn.MultiheadAttention(d, 1, bias=False, batch_first=True)
    with torch.no_grad():
        layer.in_proj_weight.copy_(torch.eye(d).repeat(3, 1))
        layer.out_proj.weight.copy_(torch.eye(d))
    if v.shape[-1] != d:  # the layer's values have width d: pad them, and drop the padding after
        return attention_by_multihead(q, k, F.pad(v, (0, d - v.shape[-1])), mask)[..., : v.shape[-1]]
    return layer(q, k, v, attn_mask=mask, need_weights=False)[0]


def obs_window_by_package(episode_obs, t, obs_horizon):
    obs_idx, _ = window_indices(torch.tensor([t]), torch.tensor([0]), torch.tensor([len(episode_obs) - 1]),
                                obs_horizon, 1)
    return episode_obs[obs_idx[0]]


def obs_window_by_loop(episode_obs, t, obs_horizon):
    return torch.stack([episode_obs[max(s, 0)] for s in range(t - obs_horizon + 1, t + 1)])


def receding_horizon_by_index(plan, env_step, obs, n_steps, n_action_steps):
    actions, chunk = [], None
    for step in range(n_steps):
        if step % n_action_steps == 0:
            chunk = plan(obs)
        actions.append(chunk[step % n_action_steps])
        obs = env_step(actions[-1])
    return torch.stack(actions)


def training_update_with_lerp(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
    optimizer.zero_grad(set_to_none=True)
    loss = F.mse_loss(model(schedule.add_noise(a0, k, eps), k, obs), eps)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        torch._foreach_lerp_(list(ema_model.parameters()), list(model.parameters()), 1 - ema_decay)
    return float(loss.detach())


def film_unsqueezed(h, cond, linear):
    gamma, b = linear(cond).unsqueeze(-1).chunk(2, dim=1)
    return gamma * h + b


def info_nce_by_cross_entropy(e_demo, e_counter):
    logits = -torch.cat([e_demo[:, None], e_counter], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(e_demo), dtype=torch.long))


@pytest.mark.parametrize("check, fn", [
    (check_obs_window, reference_obs_window),
    (check_obs_window, obs_window_by_package),
    (check_obs_window, obs_window_by_loop),
    (check_training_update, reference_training_update),
    (check_training_update, training_update_with_lerp),
    (check_receding_horizon, reference_receding_horizon),
    (check_receding_horizon, receding_horizon_by_index),
    (check_film, reference_film),
    (check_film, film_unsqueezed),
    (check_unet_lengths, reference_unet_lengths),
    (check_unet_lengths, lambda H, levels: tuple(reference_unet_lengths(H, levels))),
    (check_info_nce, reference_info_nce),
    (check_info_nce, info_nce_by_cross_entropy),
    (check_attention, reference_attention),
    (check_attention, attention_by_multihead),
], ids=lambda v: getattr(v, "__name__", ""))
def test_right_answers_pass(check, fn):
    message = check(fn)
    assert message.startswith("Correct") and "\n" not in message
    assert repr(message) == str(message)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_an_open_exercise_is_not_attempted(check):
    def stub(*args):
        raise NotImplementedError("use the hint")

    message = check(stub)
    assert isinstance(message, NotAttempted) and "Not attempted yet" in message and "use the hint" in message


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_another_error_fails_with_its_message(check):
    def broken(*args):
        raise KeyError("oops")

    with pytest.raises(AssertionError, match="raised KeyError") as info:
        check(broken)
    assert "oops" in str(info.value)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_returning_none_is_reported(check):
    with pytest.raises(AssertionError, match="returned None"):
        check(lambda *args: None)


@pytest.mark.parametrize("check, fn", [
    (check_obs_window, reference_obs_window),
    (check_film, reference_film),
    (check_receding_horizon, reference_receding_horizon),
    (check_training_update, reference_training_update),
], ids=lambda v: getattr(v, "__name__", ""))
def test_checking_leaves_the_learners_random_state_alone(check, fn):
    state = torch.get_rng_state()
    check(fn)
    assert torch.equal(state, torch.get_rng_state())


# ---------------------------------------------------------------------------------------------------------------
# obs_window
# ---------------------------------------------------------------------------------------------------------------


def steps(t, obs_horizon):
    return torch.arange(t - obs_horizon + 1, t + 1)


def zero_padded(obs, t, To):
    window = torch.zeros(To, obs.shape[1])
    for i, s in enumerate(steps(t, To).tolist()):
        if s >= 0:
            window[i] = obs[s]
    return window


def latest_padded(obs, t, To):
    return torch.stack([obs[s] if s >= 0 else obs[t] for s in steps(t, To).tolist()])


@pytest.mark.parametrize("fn, says", [
    (zero_padded, "are zeros"),
    (lambda obs, t, To: obs[steps(t - 1, To).clamp_min(0)], "ends at t - 1"),
    (lambda obs, t, To: obs[steps(t + 1, To).clamp(0, len(obs) - 1)], "ends at t \\+ 1"),
    (latest_padded, "repeats the latest observation"),
    (lambda obs, t, To: obs[steps(t, To).clamp_min(0)].flip(0), "reversed"),
    (lambda obs, t, To: obs[steps(t, To)], "wrapped to the end of the episode"),
])
def test_obs_window_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says):
        check_obs_window(fn)


def test_the_policy_pads_its_history_as_obs_window_does():
    """The window rule the checker takes from data.window_indices is also the policy's at run time."""
    episode_obs = torch.randn(9, 3, generator=torch.Generator().manual_seed(0))
    queue, seen = RecedingHorizon(obs_horizon=3, n_action_steps=1), []
    for o in episode_obs.numpy():
        queue.act(o[None], lambda history: (seen.append(history[0].copy()), np.zeros((1, 1, 1)))[1])
    for t, history in enumerate(seen):
        assert torch.equal(torch.from_numpy(history), reference_obs_window(episode_obs, t, 3)), t


def test_obs_window_shape_and_in_place_edits_are_reported():
    with pytest.raises(AssertionError, match=r"returned shape \(3,\), expected \(4, 3\)"):
        check_obs_window(lambda obs, t, To: obs[t])
    def in_place(obs, t, To):
        obs[0] = 0
        return reference_obs_window(obs, t, To)
    with pytest.raises(AssertionError, match="changed its input `episode_obs` in place"):
        check_obs_window(in_place)


# ---------------------------------------------------------------------------------------------------------------
# training_update
# ---------------------------------------------------------------------------------------------------------------


def ema(ema_model, model, decay):
    with torch.no_grad():
        for p_ema, p in zip(ema_model.parameters(), model.parameters()):
            p_ema.copy_(decay * p_ema + (1 - decay) * p)


def update(*, zero_grad=True, ema_first=False, decay_of=lambda d: d, copy=False, average=True,
           loss_of=lambda pred, a0, eps: F.mse_loss(pred, eps)):
    def training_update(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_of(model(schedule.add_noise(a0, k, eps), k, obs), a0, eps)
        loss.backward()
        if ema_first:
            ema(ema_model, model, ema_decay)
        optimizer.step()
        if copy:
            ema(ema_model, model, 0.0)
        elif average and not ema_first:
            ema(ema_model, model, decay_of(ema_decay))
        return loss.item()

    return training_update


@pytest.mark.parametrize("fn, says", [
    (update(ema_first=True), "before optimizer.step()"),
    (update(decay_of=lambda d: 1 - d), "are swapped"),
    (update(zero_grad=False), "never cleared"),
    (update(copy=True), "copies theta"),
    (update(average=False), "never change"),
    (update(loss_of=lambda pred, a0, eps: F.mse_loss(pred, a0)), "target is a0"),
    (update(loss_of=lambda pred, a0, eps: F.mse_loss(pred, eps, reduction="sum")), "sums the squared errors"),
])
def test_training_update_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says):
        check_training_update(fn)


def test_every_listed_training_mistake_is_caught():
    for says, fn in training_update_module.MISTAKES:
        with pytest.raises(AssertionError) as info:
            check_training_update(fn)
        assert says in str(info.value)


def test_training_update_returns_and_in_place_edits_are_reported():
    def returns_tensor(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
        reference_training_update(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay)
        return diffusion_loss(model, schedule, obs, a0, k, eps)
    with pytest.raises(AssertionError, match=r"returned a tensor: return loss.item\(\)"):
        check_training_update(returns_tensor)
    def noises_in_place(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay):
        eps.mul_(1.0001)
        return reference_training_update(model, ema_model, optimizer, schedule, obs, a0, k, eps, ema_decay)
    with pytest.raises(AssertionError, match="changed its input `eps` in place"):
        check_training_update(noises_in_place)


# ---------------------------------------------------------------------------------------------------------------
# receding_horizon
# ---------------------------------------------------------------------------------------------------------------


def loop(*, every=None, take=lambda chunk, i, m: chunk[i], start_obs=False, stale=False):
    """A learner's loop: plan every `every` actions (n_action_steps if None), execute take(chunk, i)."""
    def receding_horizon(plan, env_step, obs, n_steps, n_action_steps):
        period = every(n_action_steps) if every else n_action_steps
        first, previous, actions = obs, obs, []
        for step in range(n_steps):
            if step % period == 0:
                chunk = plan(first if start_obs else previous if stale else obs)
            actions.append(take(chunk, step % period, n_action_steps))
            previous, obs = obs, env_step(actions[-1])
        return torch.stack(actions)

    return receding_horizon


def never_replans(plan, env_step, obs, n_steps, n_action_steps):
    chunk, actions = plan(obs)[:n_action_steps], []
    for step in range(n_steps):
        actions.append(chunk[step % len(chunk)])
        env_step(actions[-1])
    return torch.stack(actions)


def runs_off_the_chunk(plan, env_step, obs, n_steps, n_action_steps):
    chunk, actions = plan(obs), []
    for step in range(n_steps):
        actions.append(chunk[step])
        env_step(actions[-1])
    return torch.stack(actions)


@pytest.mark.parametrize("fn, says", [
    (loop(every=lambda m: 1), "re-plans at every step"),
    (never_replans, "never re-plans"),
    (loop(take=lambda chunk, i, m: chunk[-m:][i]), "last\\* n_action_steps"),
    (loop(every=lambda m: 10**6, take=lambda chunk, i, m: chunk[i % len(chunk)]), "never re-plans"),
    (loop(start_obs=True), "first observation"),
    (loop(stale=True), "stale observation"),
    (loop(every=lambda m: m + 1), "one step too late"),
    (loop(every=lambda m: max(m - 1, 1)), "one step too early"),
])
def test_receding_horizon_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says) as info:
        check_receding_horizon(fn)
    assert "is wrong on" in str(info.value)


def test_executing_the_whole_chunk_is_named():
    def whole_chunk(plan, env_step, obs, n_steps, n_action_steps):
        actions = []
        while len(actions) < n_steps:
            for action in plan(obs):
                if len(actions) < n_steps:
                    obs = env_step(action)
                    actions.append(action)
        return torch.stack(actions)

    with pytest.raises(AssertionError, match="whole chunk"):
        check_receding_horizon(whole_chunk)


def test_receding_horizon_errors_and_returns_are_reported():
    with pytest.raises(AssertionError, match="raised IndexError(.|\n)*re-plan after n_action_steps"):
        check_receding_horizon(runs_off_the_chunk)
    with pytest.raises(AssertionError, match="stack the actions"):
        check_receding_horizon(lambda *args: list(reference_receding_horizon(*args)))
    with pytest.raises(AssertionError, match="expected a tensor of shape \\(10, 2\\)"):
        check_receding_horizon(lambda *args: reference_receding_horizon(*args)[:-1])
    def in_place(plan, env_step, obs, n_steps, n_action_steps):
        actions = reference_receding_horizon(plan, env_step, obs, n_steps, n_action_steps)
        obs += 1
        return actions
    with pytest.raises(AssertionError, match="changed its input `obs` in place"):
        check_receding_horizon(in_place)


# ---------------------------------------------------------------------------------------------------------------
# film
# ---------------------------------------------------------------------------------------------------------------


def halves(linear, cond):
    out = linear(cond)
    C = out.shape[-1] // 2
    return out[:, :C], out[:, C:]


@pytest.mark.parametrize("fn, says", [
    (lambda h, c, lin: halves(lin, c)[1][..., None] * h + halves(lin, c)[0][..., None], "swapped"),
    (lambda h, c, lin: halves(lin, c)[0].unsqueeze(1) * h + halves(lin, c)[1].unsqueeze(1), "wrong axis"),
    (lambda h, c, lin: h + halves(lin, c)[1][..., None], "only the bias"),
    (lambda h, c, lin: h * halves(lin, c)[0][..., None], "only the scale"),
    (lambda h, c, lin: (1 + halves(lin, c)[0][..., None]) * h + halves(lin, c)[1][..., None], "\\(1 \\+ gamma\\)"),
    (lambda h, c, lin: lin(c)[:, ::2, None] * h + lin(c)[:, 1::2, None], "interleaved"),
])
def test_film_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says):
        check_film(fn)


def test_film_wrong_axis_that_cannot_broadcast_gets_a_hint():
    def no_trailing_axis(h, c, lin):
        gamma, b = halves(lin, c)  # (B, C) against h (B, C, L): broadcasting aligns C with L and B with C
        return gamma * h + b

    with pytest.raises(AssertionError, match="raised RuntimeError(.|\n)*trailing axis"):
        check_film(no_trailing_axis)


def test_film_shape_and_in_place_edits_are_reported():
    with pytest.raises(AssertionError, match="returned shape"):
        check_film(lambda h, c, lin: reference_film(h, c, lin).mean(-1))
    def in_place(h, c, lin):
        gamma, b = halves(lin, c)
        return h.mul_(gamma[..., None]).add_(b[..., None])
    with pytest.raises(AssertionError, match="changed its input `h` in place"):
        check_film(in_place)


# ---------------------------------------------------------------------------------------------------------------
# unet_lengths
# ---------------------------------------------------------------------------------------------------------------


def checked(factor_of, lengths):
    def unet_lengths(H, levels):
        if H % factor_of(levels):
            raise ValueError("not a multiple")
        return lengths(H, levels)

    return unet_lengths


@pytest.mark.parametrize("fn, says", [
    (checked(lambda L: 2 ** (L - 1), lambda H, L: [H // 2**i for i in range(L + 1)]), "one level too many"),
    (checked(lambda L: 2 ** (L - 1), lambda H, L: [H // 2**i for i in range(L - 1)]), "one level too few"),
    (checked(lambda L: 2 ** (L - 1), lambda H, L: [H // 2 ** (i + 1) for i in range(L)]), "starts at H / 2"),
    (lambda H, L: [H // 2**i for i in range(L)], "integer division hides the remainder"),
    (checked(lambda L: 2**L, lambda H, L: [H // 2**i for i in range(L)]), "the check uses 2\\^levels"),
    (lambda H, L: [H / 2**i for i in range(L)], "returned floats"),
])
def test_unet_lengths_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says):
        check_unet_lengths(fn)


def test_unet_lengths_must_raise_a_value_error():
    def asserts(H, levels):
        assert H % 2 ** (levels - 1) == 0
        return reference_unet_lengths(H, levels)

    with pytest.raises(AssertionError, match="raised AssertionError(.|\n)*raise ValueError"):
        check_unet_lengths(asserts)


# ---------------------------------------------------------------------------------------------------------------
# info_nce
# ---------------------------------------------------------------------------------------------------------------


def scores(e_demo, e_counter):
    return -torch.cat([e_demo[:, None], e_counter], dim=1)


@pytest.mark.parametrize("fn, says", [
    (lambda d, c: -torch.log_softmax(torch.cat([d[:, None], c], 1), 1)[:, 0].mean(), "with their sign"),
    (lambda d, c: (d + torch.logsumexp(-c, 1)).mean(), "leaves out the demonstration"),
    (lambda d, c: -torch.log_softmax(scores(d, c), 1)[:, 0].sum(), "summed over the batch"),
    (lambda d, c: -torch.log_softmax(scores(d, c), 0)[:, 0].mean(), "over the batch \\(dim 0\\)"),
    (lambda d, c: torch.log_softmax(scores(d, c), 1)[:, 0].mean(), "not negated"),
])
def test_info_nce_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says):
        check_info_nce(fn)


def test_info_nce_written_with_exp_overflows_on_far_energies_and_is_reported():
    def naive(e_demo, e_counter):  # exp(-E) of energies 30 apart: inf / inf in float32
        p = torch.exp(-e_demo) / (torch.exp(-e_demo) + torch.exp(-e_counter).sum(1))
        return -torch.log(p).mean()

    with pytest.raises(AssertionError, match="NaN or inf|is wrong"):
        check_info_nce(naive)


# ---------------------------------------------------------------------------------------------------------------
# attention
# ---------------------------------------------------------------------------------------------------------------


def attention_scores(q, k):
    return q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5


@pytest.mark.parametrize("fn, says", [
    (lambda q, k, v, m: torch.softmax((q @ k.transpose(-2, -1)).masked_fill(m, -torch.inf), -1) @ v, "sqrt\\(d\\)"),
    (lambda q, k, v, m: torch.softmax(attention_scores(q, k).masked_fill(~m, -torch.inf), -1) @ v, "NaN"),
    (lambda q, k, v, m: torch.softmax(attention_scores(q, k), -1).masked_fill(m, 0) @ v, "after the softmax"),
    (lambda q, k, v, m: torch.softmax(attention_scores(q, k), -1) @ v, "mask was left out"),
    (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), "other way round"),
])
def test_attention_mistake_is_named(fn, says):
    with pytest.raises(AssertionError, match=says):
        check_attention(fn)
