from collections import Counter

import pytest

from handhold.config import validate_config
from handhold.curriculum import Curriculum
from handhold.data.sources import build_sources


def make(stages, seed=0, batch_size=16, **extra):
    cfg = validate_config({"seed": seed, "stages": stages, "train": {"batch_size": batch_size}, **extra})
    return cfg, Curriculum(cfg, build_sources(cfg))


MIX = [{"name": "m", "mix": {"general": 3, "physics": 1}, "until": {"steps": 1000}}]


def texts(batch):
    return [(i.source, i.text) for i in batch]


def test_same_seed_same_batches_other_seed_other_batches():
    _, a = make(MIX)
    _, b = make(MIX)
    _, c = make(MIX, seed=1)
    first = [texts(a.next_batch()) for _ in range(5)]
    assert first == [texts(b.next_batch()) for _ in range(5)]
    assert first != [texts(c.next_batch()) for _ in range(5)]


def test_state_dict_resumes_the_exact_stream():
    _, a = make(MIX)
    for _ in range(3):
        a.next_batch()
    saved = a.state_dict()
    expected = [texts(a.next_batch()) for _ in range(4)]
    _, b = make(MIX)
    b.load_state_dict(__import__("json").loads(__import__("json").dumps(saved)))  # JSON-safe
    assert [texts(b.next_batch()) for _ in range(4)] == expected


def test_mixture_weights_are_respected():
    _, cur = make(MIX, batch_size=64)
    counts = Counter(i.source for _ in range(50) for i in cur.next_batch())
    share = counts["physics"] / sum(counts.values())
    assert 0.22 < share < 0.28  # 1/4 of 3200 rows; sd ~ 0.008


def test_budgets_in_steps_and_tokens():
    stages = [{"name": "a", "mix": {"general": 1}, "until": {"steps": 3}},
              {"name": "b", "mix": {"physics": 1}, "until": {"tokens": 250}}]
    _, cur = make(stages)
    for step in (1, 2):
        assert cur.after_step(step, 100 * step) is None
    assert cur.after_step(3, 300).evidence == {"steps": 3}
    cur.advance(3, 300)
    assert cur.stage.name == "b" and cur.progress.start_step == 3
    assert all(i.source == "physics" for i in cur.next_batch())
    assert cur.after_step(4, 500) is None
    assert cur.progress.steps == 1 and cur.progress.tokens == 200
    assert cur.after_step(5, 560).evidence == {"tokens": 260}  # the stage's own tokens
    cur.advance(5, 560)
    assert cur.finished


def test_an_eval_logs_the_readiness_metric_and_an_extra_eval_is_no_evidence():
    stages = [{"name": "a", "mix": {"general": 1},
               "until": {"threshold": "eval/acc", "value": 0.5, "evals": 2, "max_steps": 100}}]
    _, cur = make(stages)
    assert cur.after_eval(4, {"eval/acc": 0.6}) is None
    assert cur.after_eval(6, {"eval/acc": 0.7}, extra=True) is None  # only a --max-steps cap falls here
    d = cur.after_eval(8, {"eval/acc": 0.8})
    assert d.reason == "threshold" and d.evidence["streak"] == 2 and d.evidence["global_step"] == 8


def test_a_checkpoint_that_stored_the_stage_progress_still_resumes():
    """Curriculum state as checkpoints held it: the stage's counters under ``progress`` and the
    readiness detector's history under ``readiness``."""
    stages = [{"name": "a", "mix": {"general": 1}, "until": {"steps": 3}},
              {"name": "b", "mix": {"physics": 1},
               "until": {"threshold": "eval/acc", "value": 0.5, "evals": 2, "max_steps": 20}},
              {"name": "c", "mix": {"general": 1}, "until": {"tokens": 1000}}]
    _, cur = make(stages)
    for _ in range(2):
        cur.next_batch()
    cur.advance(3, 300)
    cur.after_eval(7, {"eval/acc": 0.7})
    cur.after_step(8, 800)
    old = {"progress": {"index": 1, "steps": 5, "tokens": 500, "start_step": 3, "start_tokens": 300},
           "cursors": dict(cur.cursors), "rng": cur.rng.bit_generator.state,
           "readiness": {"stage": 1, "history": [[4, 0.7]]}}
    expected = [texts(cur.next_batch()) for _ in range(2)]
    _, resumed = make(stages)
    resumed.load_state_dict(old)
    assert resumed.stage.name == "b" and [texts(resumed.next_batch()) for _ in range(2)] == expected
    assert resumed.tracker.state_dict() == cur.tracker.state_dict()
    assert vars(resumed.progress) == {"index": 1, "steps": 5, "tokens": 500, "start_step": 3, "start_tokens": 300}
    d = resumed.after_eval(9, {"eval/acc": 0.9})  # the stored eval at stage step 4 counts toward the streak
    assert d.reason == "threshold" and d.evidence["first_step"] == 4 and d.evidence["stage_step"] == 6
    resumed.advance(9, 900)
    assert resumed.after_step(10, 1899) is None and resumed.after_step(11, 1900).evidence == {"tokens": 1000}
    stale = {**old, "readiness": {"stage": 0, "history": [[1, 0.9]]}}  # another stage's detector: not used
    _, other = make(stages)
    other.load_state_dict(stale)
    assert other.after_eval(9, {"eval/acc": 0.9}) is None


def test_heldout_never_appears_in_training():
    _, cur = make(MIX)
    held = {i.meta.question for name in ("general", "physics") for i in cur.sources[name].heldout(200)}
    trained = {i.meta.question for _ in range(200) for i in cur.next_batch()}
    assert held and trained and not held & trained


def test_jsonl_and_text_sources(tmp_path):
    (tmp_path / "notes.jsonl").write_text("\n".join(f'{{"body": "note {i}"}}' for i in range(50)))
    (tmp_path / "book.txt").write_text("para one\nstill one\n\npara two\n\npara three\n")
    cfg = validate_config({
        "sources": {"notes": {"type": "jsonl", "path": str(tmp_path / "notes.jsonl"), "text_field": "body"},
                    "book": {"type": "text", "path": str(tmp_path / "book.txt"), "split": "paragraph"}},
        "stages": [{"name": "s", "mix": {"notes": 1, "book": 1}, "until": {"steps": 5}}],
        "train": {"batch_size": 8}})
    sources = build_sources(cfg)
    notes = sources["notes"]
    epoch = [notes.draw("train", c)[0].text for c in range(len(notes.train))]
    assert sorted(epoch) == sorted(notes.train)  # one epoch is a permutation
    assert not set(notes.train) & set(notes.held)
    assert sorted(sources["book"].train + sources["book"].held) == ["para one\nstill one", "para three", "para two"]


def test_bad_jsonl_names_file_and_line(tmp_path):
    from handhold.data.sources import DataError

    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "ok"}\n{"text": \n')
    cfg = validate_config({"sources": {"bad": {"type": "jsonl", "path": str(p)}},
                           "stages": [{"name": "s", "mix": {"bad": 1}, "until": {"steps": 1}}]})
    with pytest.raises(DataError, match=rf"{p}:2: invalid JSON"):
        build_sources(cfg)
    p.write_text('{"text": "ok"}\n{"txt": "no"}\n')
    with pytest.raises(DataError, match=rf"{p}:2: no field 'text'"):
        build_sources(cfg)


@pytest.mark.parametrize("lines", [["only one line"], ["a", "b"], [f"line {i}" for i in range(3)]])
def test_tiny_files_keep_an_example_on_each_side(tmp_path, lines):
    from handhold.data.sources import ListSource

    for heldout in (0.01, 0.49):
        src = ListSource("t", lines, seed=0, heldout=heldout)
        assert src.train and src.held
        if len(lines) > 1:
            assert not set(src.train) & set(src.held)


def test_non_utf8_file_is_a_clear_error(tmp_path):
    from handhold.data.sources import DataError

    p = tmp_path / "latin.txt"
    p.write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    cfg = validate_config({"sources": {"t": {"type": "text", "path": str(p)}},
                           "stages": [{"name": "s", "mix": {"t": 1}, "until": {"steps": 1}}]})
    with pytest.raises(DataError, match=rf"{p}: not UTF-8 text \(byte 3"):
        build_sources(cfg)
