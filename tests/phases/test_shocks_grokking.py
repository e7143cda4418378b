"""Shift shocks, slingshot spikes, divergence and grokking on curves with known answers."""

from __future__ import annotations

import numpy as np

from handhold.phases.analyze import analyze, analyze_metric
from handhold.direction import infer_direction
from handhold.phases.grokking import GrokkingDetector, real_delay, train_val_pairs
from handhold.phases.synthetic import co_moving_pair, grokking_suite, null_curve, switch_curve, with_spikes


def test_switch_shock_peak_and_recovery_match_the_truth():
    rng = np.random.default_rng(11)
    for n in (400, 20_000):
        c = switch_curve(rng, n, 0.01)
        res = analyze_metric("eval/loss/general", c.steps, c.values, switches=c.switches, direction="lower")
        (shock,) = [s for s in res.shocks if s.kind == "switch"]
        s = int(c.switches[0])
        clean_peak = c.values[s + 1: s + 1 + max(1, n // 400)].mean()  # the first bin after it
        assert shock.step == s and shock.peak > shock.baseline
        assert abs(shock.peak - clean_peak) < 0.2 * (clean_peak - shock.baseline)
        assert abs(shock.recovered_at - c.recovered_at) <= 0.03 * n


def test_a_shock_that_never_recovers_says_none():
    t = np.arange(1000, dtype=float)
    loss = np.where(t <= 500, 1.0, 1.8) + 0.01 * np.random.default_rng(0).standard_normal(1000)
    res = analyze_metric("eval/loss", t, loss, switches=[500], direction="lower")
    (shock,) = res.shocks
    assert (shock.step, shock.recovered_at) == (500, None) and abs(shock.peak - 1.8) < 0.05


def test_spikes_are_shocks_not_phases():
    rng = np.random.default_rng(2)
    c = with_spikes(rng, null_curve(rng, 20_000, 0.01, "power"), count=2)
    res = analyze_metric("train/loss", c.steps, c.values, direction="lower")
    assert res.changepoints == []
    spikes = [s for s in res.shocks if s.kind == "spike"]
    assert len(spikes) == len(c.spikes)
    for shock, at in zip(spikes, c.spikes):
        assert abs(shock.step - at) <= 0.01 * 20_000 and shock.recovered_at is not None
        assert shock.peak > shock.baseline + 0.5 * np.ptp(c.values[:100])  # the raw peak, not a bin mean


def test_grokking_steps_within_margin_and_no_false_generalization():
    for g in grokking_suite(seed=4, lengths=(2000, 20_000), per_cell=1):
        got = GrokkingDetector("lower" if g.kind == "loss" else "higher").fit(g.steps, g.train, g.steps, g.val).predict()
        margin = 0.03 * len(g.steps)
        assert abs(got.memorized_at - g.memorized_at) <= margin, g.name
        if g.generalized_at is None:
            assert got.generalized_at is None and got.delay is None, g.name
        else:
            assert abs(got.generalized_at - g.generalized_at) <= margin, g.name
            assert got.delay == got.generalized_at - got.memorized_at > 0
        assert got.grokked is (g.generalized_at is not None), (g.name, got.verdict)  # every late jump is real


def test_a_co_moving_pair_is_not_grokking_whatever_its_length_or_kind():
    rng = np.random.default_rng(7)
    for n in (300, 3000, 30_000):
        for kind in ("loss", "acc"):
            g = co_moving_pair(rng, n, kind=kind)
            got = GrokkingDetector("lower" if kind == "loss" else "higher").fit(g.steps, g.train, g.steps, g.val).predict()
            assert got.grokked is False, (g.name, got)
            if got.memorized_at is not None and got.generalized_at is not None:
                assert got.verdict.startswith("no grokking"), got.verdict


def test_real_delay_criterion_on_its_own_numbers():
    # memorized at 100 (from 0): a delay of 99 is under 1x the time to memorize, 100 is enough
    assert real_delay(100, 199, 0.1, 0, 1000)[0] is False
    assert real_delay(100, 200, 0.1, 0, 1000)[0] is True
    # validation already half-way when train memorized: tracking, not grokking
    ok, why = real_delay(100, 5000, 0.5, 0, 10_000)
    assert ok is False and "moved together" in why
    # a delay under 5% of the run is not named even when it is long against memorizing
    assert real_delay(10, 40, 0.0, 0, 1000)[0] is False and real_delay(10, 60, 0.0, 0, 1000)[0] is True
    assert real_delay(None, 50, None, 0, 100) == (False, "train never memorized")


def test_accuracy_pairs_use_the_absolute_level_losses_the_share_rule():
    t = np.arange(1000.0)
    train = 1 / (1 + np.exp(-(t - 50) / 5))
    val = 0.5 / (1 + np.exp(-(t - 500) / 5))  # tops out at 0.5: never 0.99
    got = GrokkingDetector("higher", names=("train/acc", "val/acc")).fit(t, train, t, val).predict()
    assert got.rule == "accuracy >= 0.99" and got.memorized_at == 73 and got.generalized_at is None
    got = GrokkingDetector("higher", acc_level=0.4, names=("train/acc", "val/acc")).fit(t, train, t, val).predict()
    assert got.memorized_at == 48 and got.generalized_at == 507 and got.grokked  # 500 + 5 ln 4
    got = GrokkingDetector("lower", names=("train/loss", "val/loss")).fit(t, 1 - train, t, 1 - val).predict()
    assert got.rule == "90% of the improvement" and got.generalized_at is not None


def test_pairs_are_found_by_name_and_directions_by_words():
    keys = ["train/acc", "val/acc", "train_loss", "test_loss", "train/loss/physics", "eval/loss/physics",
            "train/lr", "eval/loss/general"]
    assert train_val_pairs(keys) == [("train/acc", "val/acc"), ("train_loss", "test_loss"),
                                     ("train/loss/physics", "eval/loss/physics")]
    assert [infer_direction(k) for k in ("eval/physics/answer_acc", "val_perplexity", "mc_acc", "train/grad_norm")] \
        == ["higher", "lower", "higher", None]


def test_divergence_of_two_families_with_the_gap():
    t = np.arange(0, 3000, 10, dtype=float)
    rng = np.random.default_rng(0)
    noise = lambda: 0.01 * rng.standard_normal(len(t))  # noqa: E731
    physics = np.where(t < 1000, 0.2, 0.2 + 0.5 * np.minimum(t - 1000, 1000) / 1000) + noise()
    general = 0.3 + noise()  # flat: reasoning on physics pulls ahead, general does not move
    doc = analyze({"eval/physics/answer_acc": (t, physics), "eval/general/answer_acc": (t, general),
                   "eval/loss/physics": (t, 2 - physics)})
    (div,) = doc["divergences"]
    assert (div["a"], div["b"]) == ("eval/physics/answer_acc", "eval/general/answer_acc")
    assert abs(div["start"] - 1000) <= 60 and abs(div["end"] - 2000) <= 60
    assert abs(div["gap"] - 0.5) < 0.08


def test_family_pairs_are_one_measurement_on_two_families():
    from handhold.phases.divergence import family_pairs

    keys = ["internal/weight_norm", "internal/update_ratio", "eval/loss/a", "eval/loss/b", "train/loss/a",
            "eval/family/reasoning", "eval/family/standard", "eval/a/answer_acc"]
    dirs = {k: infer_direction(k) for k in keys}
    assert family_pairs(keys, dirs) == [("eval/family/reasoning", "eval/family/standard"),
                                        ("eval/loss/a", "eval/loss/b")]
