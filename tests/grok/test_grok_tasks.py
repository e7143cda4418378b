import pytest
import torch

from handhold.grok.tasks import OPS, TaskError, make_task


def _expected(op: str, a: int, b: int, p: int) -> int:
    return {"add": (a + b) % p, "sub": (a - b) % p, "mul": (a * b) % p, "div": (a * pow(b, p - 2, p)) % p,
            "x2y2": (a * a + b * b) % p, "x2xyy2": (a * a + a * b + b * b) % p}[op]


def test_labels_match_hand_arithmetic_for_every_op():
    p = 7
    t = make_task(list(OPS), p, 0.5, seed=0)
    assert t.vocab == p + len(OPS)
    for row in range(len(t.labels)):
        a, b, eq = t.tokens[row].tolist()
        op = t.ops[eq - p]
        assert t.op[row] == eq - p and (t.a[row], t.b[row]) == (a, b)
        assert int(t.labels[row]) == _expected(op, a, b, p), (op, a, b)
    div = t.op == t.ops.index("div")
    assert int(div.sum()) == p * (p - 1) and not (t.b[div] == 0).any()
    # division really inverts multiplication
    assert torch.equal((t.labels[div] * t.b[div]) % p, t.a[div])


def test_split_is_stratified_seeded_and_disjoint():
    t = make_task(["add", "sub"], 31, 0.3, seed=4)
    for i in range(2):
        rows = t.op == i
        assert int((t.is_train & rows).sum()) == round(0.3 * 31 * 31)
    assert set(t.train_idx.tolist()).isdisjoint(t.val_idx.tolist())
    assert len(t.train_idx) + len(t.val_idx) == 2 * 31 * 31
    same = make_task(["add", "sub"], 31, 0.3, seed=4)
    other = make_task(["add", "sub"], 31, 0.3, seed=5)
    assert torch.equal(same.is_train, t.is_train)
    assert not torch.equal(other.is_train, t.is_train)


def test_grid_is_row_major_and_train_mask_agrees():
    t = make_task("add", 11, 0.4, seed=1)
    tokens, labels = t.grid("add")
    assert tokens[11 * 3 + 5].tolist() == [3, 5, 11] and int(labels[11 * 3 + 5]) == 8
    mask = t.grid_train_mask("add")
    assert int(mask.sum()) == int(t.is_train.sum())
    assert bool(mask[t.a[t.train_idx[0]], t.b[t.train_idx[0]]])


@pytest.mark.parametrize("kwargs, message", [
    ({"ops": "add", "p": 12}, "not prime"),
    ({"ops": "pow", "p": 7}, "unknown operation 'pow'"),
    ({"ops": "add", "p": 7, "train_frac": 1.0}, "between 0 and 1"),
])
def test_bad_tasks_say_why(kwargs, message):
    kwargs = {"train_frac": 0.5, "seed": 0, **kwargs}
    with pytest.raises(TaskError, match=message):
        make_task(**kwargs)
