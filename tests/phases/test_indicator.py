"""The leading indicator on synthetic training-side signals with known stories."""

import numpy as np

from handhold.phases.analyze import analyze
from handhold.phases.indicator import GeneralizationIndicator, IndicatorRule, indicator_entries, signal_groups

STEPS = np.arange(0, 5000, 50, dtype=float)


def story(kind: str, rng=np.random.default_rng(0)):
    """(weight norm, Gini) per measurement: memorize (norm up to a peak at 150), then
    ``grok``: norm falls and Gini rises from 500 on; ``no_decay``: norm keeps creeping up, Gini flat;
    ``small_data``: norm falls (decay wins) but the embedding stays dense (Gini +0.04)."""
    t = STEPS
    up = 30 + 5 * np.minimum(t, 150) / 150
    if kind == "grok":
        norm = up - 8 * np.clip((t - 500) / 2000, 0, 1)
        gini = 0.08 + 0.3 * np.clip((t - 500) / 2000, 0, 1)
    elif kind == "no_decay":
        norm = up + 3 * np.clip((t - 150) / 4000, 0, 1)
        gini = 0.08 + 0.005 * t / 5000
    else:
        norm = up - 8 * np.clip((t - 500) / 2000, 0, 1)
        gini = 0.04 + 0.04 * t / 5000
    return norm + 0.05 * rng.standard_normal(len(t)), gini + 0.002 * rng.standard_normal(len(t))


def test_announces_a_forming_circuit_and_stays_silent_on_the_two_non_grokking_stories():
    norm, gini = story("grok")
    found = GeneralizationIndicator().fit(STEPS, norm, gini).decide()
    # Gini +0.08 needs (t - 500) / 2000 >= 0.27: t ~ 1040; the norm is 5% down by then
    assert found is not None and 1000 <= found["step"] <= 1200
    assert found["norm_drop"] >= 0.05 and found["gini_rise"] >= 0.08 and found["peak_step"] <= 500
    for kind in ("no_decay", "small_data"):
        assert GeneralizationIndicator().fit(STEPS, *story(kind)).decide() is None, kind


def test_one_lucky_measurement_is_not_an_announcement_and_replay_resumes_the_same():
    rule = IndicatorRule(confirm=2)
    ind = GeneralizationIndicator(rule).fit([0, 100, 200], [30, 35, 30], [0.1, 0.1, 0.3])
    assert ind.decide() is None  # both hold once: not yet
    resumed = GeneralizationIndicator(rule)
    resumed.load_state_dict(ind.state_dict())
    for det in (ind, resumed):
        det.update(300, float("nan"), 0.3).update(400, 30, 0.31)
    assert ind.decide() == resumed.decide() and ind.decide()["step"] == 400


def test_analyze_document_carries_the_indicator_with_its_lead():
    norm, gini = story("grok")
    val = 0.02 + 0.98 / (1 + np.exp(-(STEPS - 3000) / 100))  # val >= 95% at 3000 + 100 ln 19 ~ 3294
    series = {"grok/measure/weight_norm": (STEPS, norm), "grok/measure/gini_embed": (STEPS, gini),
              "grok/val/acc": (STEPS, val), "grok/train/acc": (STEPS, np.minimum(1, 0.02 + STEPS / 200))}
    assert signal_groups(list(series)) == [("grok", "grok/measure/weight_norm", "grok/measure/gini_embed")]
    (entry,) = analyze(series)["indicator"]
    assert entry["val"] == "grok/val/acc" and entry["val_reached_at"] == 3300
    assert entry["lead"] == 3300 - entry["announced_at"] > 2000
    assert indicator_entries({"loss": (STEPS, norm)}) == []  # no signals: no entry
