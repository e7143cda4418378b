import pytest
import torch

from handhold.grok.curricula import CurriculumSpec
from handhold.grok.curricula import build_stages, parts
from handhold.grok.tasks import make_task


def spec(**kw) -> CurriculumSpec:
    return CurriculumSpec.model_validate({"switch": {"steps": list(range(10, 10 * kw.get("stages", 2), 10))}, **kw})


def test_operand_subset_first_stage_uses_only_the_subset_and_only_training_pairs():
    t = make_task("add", 31, 0.5, seed=3)
    first, second = build_stages(spec(kind="operand_subset", fraction=0.5), t, seed=3)
    assert (first.name, second.name) == ("subset", "all")
    assert t.is_train[first.rows].all() and torch.equal(second.rows, t.train_idx)
    operands = set(t.a[first.rows].tolist()) | set(t.b[first.rows].tolist())
    assert len(operands) == round(0.5 * 31)
    inside = torch.tensor([x in operands for x in range(31)])
    wanted = t.is_train & inside[t.a] & inside[t.b]
    assert set(first.rows.tolist()) == set(wanted.nonzero().flatten().tolist())
    assert first.mix == {"subset": 1.0}
    masks = parts(spec(kind="operand_subset", fraction=0.5), t, seed=3)
    assert set(masks) == {"subset", "rest"} and torch.equal(masks["subset"], inside[t.a] & inside[t.b])


def test_random_subset_is_the_unstructured_control():
    t = make_task("add", 31, 0.5, seed=3)
    first, second = build_stages(spec(kind="random_subset", fraction=0.25), t, seed=3)
    assert (first.name, second.name) == ("sample", "all") and torch.equal(second.rows, t.train_idx)
    assert t.is_train[first.rows].all() and abs(len(first.rows) / len(t.train_idx) - 0.25) < 0.06
    assert len(set(t.a[first.rows].tolist())) == 31  # every residue appears: no operand structure


def test_easy_to_hard_is_cumulative_by_stated_difficulty():
    t = make_task("add", 31, 0.5, seed=0)
    stages = build_stages(spec(kind="easy_to_hard", difficulty="sum", stages=3), t, seed=0)
    assert [s.name for s in stages] == ["easy", "medium", "hard"]
    sizes = [len(s.rows) for s in stages]
    assert sizes[0] < sizes[1] < sizes[2] == int(t.is_train.sum())
    for earlier, later in zip(stages, stages[1:]):
        assert set(earlier.rows.tolist()) <= set(later.rows.tolist())
    # every easy example is easier (smaller a + b) than every example the next stage adds
    new = sorted(set(stages[1].rows.tolist()) - set(stages[0].rows.tolist()))
    assert int((t.a + t.b)[stages[0].rows].max()) <= int((t.a + t.b)[new].min())
    wrap = build_stages(spec(kind="easy_to_hard", difficulty="wrap"), t, seed=0)[0]
    assert ((t.a + t.b)[wrap.rows] < 31).all()


def test_one_op_first_then_the_mix_and_parts_partition_every_example():
    t = make_task(["add", "sub"], 13, 0.5, seed=0)
    first, mix = build_stages(spec(kind="one_op_first", op="sub"), t, seed=0)
    assert first.name == "sub" and (t.op[first.rows] == 1).all() and mix.name == "mix"
    assert mix.mix == {"sub": 0.5, "add": 0.5}
    masks = parts(spec(kind="one_op_first", op="sub"), t, seed=0)
    assert torch.equal(masks["sub"] ^ masks["add"], torch.ones(len(t.labels), dtype=torch.bool))
    assert parts(None, make_task("add", 13, 0.5, seed=0), seed=0) == {}
    assert set(parts(None, t, seed=0)) == {"add", "sub"}


def test_switch_points_must_fit_the_stages():
    with pytest.raises(ValueError, match="3 stages: give 2 switch"):
        CurriculumSpec.model_validate({"kind": "easy_to_hard", "stages": 3, "switch": {"steps": [10]}})
    with pytest.raises(ValueError, match="exactly one of"):
        CurriculumSpec.model_validate({"kind": "operand_subset", "switch": {"steps": [10], "until": {
            "threshold": "grok/stage/acc", "value": 0.9, "max_steps": 50}}})
    with pytest.raises(ValueError, match=r"switch.ready is replaced by the until: form.*until: \{threshold: "
                                         r"grok/stage/acc, value: 0.9, evals: 2, max_steps: 40\}"):
        CurriculumSpec.model_validate({"kind": "operand_subset",
                                       "switch": {"ready": {"acc": 0.9, "evals": 2, "max_steps": 40}}})
    with pytest.raises(ValueError, match="reads grok/stage/acc .training data only., not 'grok/val/acc'"):
        CurriculumSpec.model_validate({"kind": "operand_subset", "switch": {"until": {
            "threshold": "grok/val/acc", "value": 0.9, "max_steps": 50}}})
