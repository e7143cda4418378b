"""BIG-bench task files: a malformed one is a BenchmarkDataError naming the file and the field,
never a traceback and never scored silently (NaN scores, a null target)."""

from __future__ import annotations

import json

import pytest

from handhold.evals.benchmarks.data import BenchmarkDataError, load_bigbench

GOOD_MC = {"input": "2+2?", "target_scores": {"4": 1, "5": 0}}


@pytest.mark.parametrize("spec, says", [
    ({"examples": {"input": "q", "target": "a"}}, "examples: a BIG-bench task needs a non-empty 'examples' list, "
                                                   "not a dict"),
    ([1, 2], "a JSON object, not a list"),
    ({"examples": [1]}, "examples[0]: expected an object"),
    ({"examples": [{"input": "q", "target_scores": {"a": "high", "b": 0}}]}, "examples[0].target_scores['a']"),
    ({"examples": [{"input": "q", "target_scores": {"a": float("nan"), "b": 0}}]}, "finite number, not nan"),
    ({"examples": [{"input": "q", "target_scores": {"a": 1}}]}, "at least two choices"),
    ({"examples": [{"input": "q", "target": []}]},
     "examples[0].target: expected a string or a non-empty list of strings, not an empty list"),
    ({"examples": [{"input": "q", "target": None}]}, "examples[0].target"),
    ({"examples": [{"input": "q", "target": [None]}]}, "examples[0].target"),
    ({"examples": [{"input": "q", "target": {"a": 1}}]}, "examples[0].target"),
    ({"examples": [GOOD_MC], "task_prefix": 3}, "task_prefix: expected a string"),
    ({"examples": [GOOD_MC], "append_choices_to_input": "yes"}, "append_choices_to_input"),
    ({"examples": [{"input": 5, "target": "a"}]}, "examples[0].input"),
])
def test_malformed_task_files_are_named(tmp_path, spec, says):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(BenchmarkDataError) as err:
        load_bigbench(path)
    assert str(err.value).startswith(str(path)) and says in str(err.value), str(err.value)


def test_a_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "task.json"
    path.write_bytes(b'{"examples": [{"input": "caf\xe9", "target": "a"}]}')
    with pytest.raises(BenchmarkDataError, match="not a UTF-8 text file"):
        load_bigbench(path)


def test_good_tasks_still_load(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"examples": [GOOD_MC, {"input": "1+1?", "target_scores": {"3": 0.0, "2": 1.0}}]}))
    task = load_bigbench(path)
    assert task.kind == "mc" and [d.gold for d in task.docs] == [0, 1]
    path.write_text(json.dumps({"examples": [{"input": "q", "target": ["a", "b"]}, {"input": "r", "target": 7}]}))
    assert [d.requests[0][1] for d in load_bigbench(path).docs] == [" a", " 7"]
