"""Sources over Hugging Face datasets (a save_to_disk folder, Parquet, Arrow, JSON): the held-out
rule of every source, exact resume from a cursor, chat rows through the template, and config
errors as one located line. Every dataset is built here, in tmp_path: nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

datasets = pytest.importorskip("datasets", reason="dataset sources are in the [datasets] extra")

from handhold.config import ConfigError, load_config, validate_config  # noqa: E402
from handhold.curriculum import Curriculum  # noqa: E402
from handhold.data.chat_format import chat_formatted, render_chat  # noqa: E402
from handhold.data.items import DataError, is_heldout  # noqa: E402
from handhold.data.sources import ListSource, build_sources  # noqa: E402

NOTES = [f"note {i}: the {['cat', 'dog', 'owl'][i % 3]} sat {i % 7} times" for i in range(300)]
PARAS = [f"paragraph {i} of the physics notes" for i in range(200)]
CHATS = [[{"role": "user", "content": f"what is {i} + {i}?"}, {"role": "assistant", "content": f"{2 * i}"}]
         for i in range(120)]
TEMPLATE = ("{% for m in messages %}{{ '<bos>' + m['role'] + ': ' + m['content'] + '<eos>' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<bos>assistant: ' }}{% endif %}")


@pytest.fixture
def data(tmp_path) -> Path:
    """notes/ (save_to_disk), paras.parquet (a `body` column), chats.parquet (`messages`),
    notes.jsonl and notes.arrow (the notes again)."""
    notes = datasets.Dataset.from_dict({"text": NOTES, "n": list(range(len(NOTES)))})
    notes.save_to_disk(str(tmp_path / "notes"))
    notes.to_json(str(tmp_path / "notes.jsonl"))
    datasets.Dataset.from_dict({"body": PARAS}).to_parquet(str(tmp_path / "paras.parquet"))
    datasets.Dataset.from_dict({"messages": CHATS}).to_parquet(str(tmp_path / "chats.parquet"))
    import pyarrow as pa

    table = pa.table({"text": NOTES})
    with pa.OSFile(str(tmp_path / "notes.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return tmp_path


def config(tmp_path: Path, sources: dict, mix: dict | None = None) -> Path:
    data = {"name": "ds", "sources": sources,
            "stages": [{"name": "one", "mix": mix or {name: 1.0 for name in sources}, "until": {"steps": 4}}],
            "train": {"batch_size": 8, "seq_len": 64}}
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def open_sources(tmp_path: Path, sources: dict) -> dict:
    path = config(tmp_path, sources)
    return build_sources(load_config(path), path.parent)


def one_epoch(source, n_rows: int) -> list[str]:
    """The train texts of the first epoch: a cursor walks each row once."""
    texts, cursor = [], 0
    while cursor < n_rows:
        item, cursor = source.draw("train", cursor)
        texts.append(item.text)
    return texts[:-1] if cursor > n_rows else texts


SOURCES = {"notes": {"type": "hf_dataset", "path": "notes"},
           "paras": {"type": "parquet", "path": "paras.parquet", "text_field": "body", "heldout": 0.1}}


def test_train_and_heldout_follow_the_hash_rule_of_every_source(data):
    sources = open_sources(data, SOURCES | {"cache_dir_check": {"type": "json", "path": "notes.jsonl",
                                                                "cache_dir": str(data / "cache")}})
    for name, texts, fraction in (("notes", NOTES, 0.05), ("paras", PARAS, 0.1), ("cache_dir_check", NOTES, 0.05)):
        src = sources[name]
        held = [t for t in texts if is_heldout(t, fraction)]
        assert 0 < len(held) < len(texts) // 4
        assert held == ListSource(name, texts, 0, fraction).held  # the rule of a JSONL or text source
        assert [i.text for i in src.heldout(len(held))] == held  # in stored order
        train = one_epoch(src, len(texts))
        assert sorted(train) == sorted(t for t in texts if not is_heldout(t, fraction))  # each once
        assert train != sorted(train, key=texts.index)  # shuffled
    assert (data / "cache").is_dir()  # the JSON's Arrow copy went where cache_dir says


def test_each_epoch_is_a_new_permutation_and_a_cursor_resumes_it_exactly(data):
    src = open_sources(data, SOURCES)["notes"]
    items, cursors, cursor = [], [], 0
    for _ in range(700):  # more than two epochs
        cursors.append(cursor)
        item, cursor = src.draw("train", cursor)
        items.append(item.text)
    n_train = sum(not is_heldout(t, 0.05) for t in NOTES)
    assert items[:n_train] != items[n_train:2 * n_train]
    assert sorted(items[:n_train]) == sorted(items[n_train:2 * n_train])
    fresh = open_sources(data, SOURCES)["notes"]  # a resumed run: the source rebuilt, its cursor loaded
    cursor, again = cursors[450], []
    for _ in range(250):
        item, cursor = fresh.draw("train", cursor)
        again.append(item.text)
    assert again == items[450:]


def test_a_curriculum_over_datasets_resumed_from_its_state_draws_the_same_rows(data):
    path = config(data, SOURCES)
    cfg = load_config(path)
    first = Curriculum(cfg, build_sources(cfg, data))
    for _ in range(5):
        first.next_batch()
    state = first.state_dict()
    expected = [[(i.source, i.text) for i in first.next_batch()] for _ in range(10)]
    resumed = Curriculum(cfg, build_sources(cfg, data))
    resumed.load_state_dict(state)
    assert [[(i.source, i.text) for i in resumed.next_batch()] for _ in range(10)] == expected
    assert {s for batch in expected for s, _ in batch} == {"notes", "paras"}


@pytest.mark.parametrize("spec", [{"type": "arrow", "path": "notes.arrow"}, {"type": "json", "path": "notes.jsonl"},
                                  {"type": "parquet", "path": "para*.parquet", "text_field": "body"},
                                  {"type": "arrow", "path": "notes/"}])
def test_arrow_json_globs_and_folders_read_the_same_rows(data, spec):
    src = open_sources(data, {"x": spec})["x"]
    texts = PARAS if spec["type"] == "parquet" else NOTES
    assert sorted(one_epoch(src, len(texts))) == sorted(t for t in texts if not is_heldout(t, 0.05))


def test_a_dataset_dict_folder_reads_its_train_split_or_the_one_named(data):
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": NOTES[:100]}),
                               "test": datasets.Dataset.from_dict({"text": NOTES[100:150]})})
    dd.save_to_disk(str(data / "dd"))
    train = open_sources(data, {"dd": {"type": "hf_dataset", "path": "dd"}})["dd"]
    test = open_sources(data, {"dd": {"type": "hf_dataset", "path": "dd", "split": "test"}})["dd"]
    assert set(one_epoch(train, 100)) <= set(NOTES[:100])
    assert set(one_epoch(test, 50)) <= set(NOTES[100:150])


def test_chat_rows_are_rendered_through_the_models_template(data):
    from handhold.models import char_tokenizer

    path = config(data, {"chats": {"type": "parquet", "path": "chats.parquet", "format": "chat"}})
    cfg = load_config(path)
    plain = build_sources(cfg, data)
    tok = char_tokenizer()
    with pytest.raises(ConfigError, match="sources.chats.format: 'chat' needs a tokenizer with a chat template"):
        chat_formatted(cfg, plain, tok)
    tok.chat_template = TEMPLATE
    sources = chat_formatted(cfg, build_sources(cfg, data), tok)
    item, _ = sources["chats"].draw("train", 0)
    assert item.meta in CHATS
    assert item.text == render_chat(tok, item.meta, add_generation_prompt=False)
    assert item.text.startswith("user: what is ") and "<eos><bos>assistant: " in item.text
    held = sources["chats"].heldout(3)
    assert all(is_heldout(json_key(i.meta), 0.05) for i in held)


def json_key(messages: list[dict]) -> str:
    import json

    return json.dumps(messages, ensure_ascii=False, sort_keys=True)


def test_the_hf_trainer_dataset_builds_dataset_sources_and_resumes_them(data):
    pytest.importorskip("torch")
    from handhold.integrations.dataset import CurriculumDataset
    from handhold.models import char_tokenizer

    tok = char_tokenizer()
    tok.chat_template = TEMPLATE
    path = config(data, SOURCES | {"chats": {"type": "parquet", "path": "chats.parquet", "format": "chat"}})
    ds = CurriculumDataset(path, tok)
    rows = iter(ds)
    for _ in range(7):
        next(rows)
    state = ds.state_at(ds.row)
    expected = [next(rows) for _ in range(12)]
    assert {r["source"] for r in expected} >= {"notes", "paras"}
    chat_rows = [r for r in expected if r["source"] == "chats"] or [next(r for r in rows if r["source"] == "chats")]
    assert tok.decode(chat_rows[0]["input_ids"]).count("<bos>") >= 2  # the template's turns, not plain text
    again = CurriculumDataset(path, tok)
    again.load_state_dict(state)
    resumed = iter(again)
    assert [next(resumed) for _ in range(12)] == expected


def test_rows_without_text_are_skipped_and_a_dataset_without_any_is_an_error(tmp_path):
    datasets.Dataset.from_dict({"text": ["", None, "only this one", "  "]}).save_to_disk(str(tmp_path / "sparse"))
    src = open_sources(tmp_path, {"s": {"type": "hf_dataset", "path": "sparse"}})["s"]
    assert {src.draw("train", c)[0].text for c in range(6)} == {"only this one"}
    assert src.heldout(2)[0].text == "only this one"  # a single example: both splits read it
    datasets.Dataset.from_dict({"text": ["", None]}).save_to_disk(str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"sources.e \(empty\): no examples"):
        open_sources(tmp_path, {"e": {"type": "hf_dataset", "path": "empty"}})


def test_a_dataset_whose_rows_all_hash_to_train_still_holds_one_out(tmp_path):
    texts = [t for t in NOTES if not is_heldout(t, 0.05)][:5]
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "five"))
    src = open_sources(tmp_path, {"f": {"type": "hf_dataset", "path": "five"}})["f"]
    held = {i.text for i in src.heldout(3)}
    assert held == {texts[-1]}  # the last row, as a small JSONL file gives its last example
    assert set(one_epoch(src, 5)) == set(texts[:-1])


LOCATED = [
    ({"type": "hf_dataset", "path": "nowhere"}, "sources.notes.path: no such folder: nowhere"),
    ({"type": "hf_dataset", "path": "paras.parquet"}, "sources.notes.path: paras.parquet is a file; type hf_dataset"),
    ({"type": "parquet", "path": "missing/*.parquet"}, "sources.notes.path: no such file, folder or match"),
    ({"type": "hf_dataset", "path": "notes", "text_field": "txt"},
     "sources.notes.text_field: no column 'txt'; did you mean 'text'?"),
    ({"type": "hf_dataset", "path": "notes", "text_field": "n"}, "holds int64, not text (strings)"),
    ({"type": "parquet", "path": "notes.jsonl"}, "sources.notes.path: "),
    ({"type": "arrow", "path": "paras.parquet"}, "is not a arrow file of rows"),
    ({"type": "json", "path": "paras.parquet"}, "is not a json file of rows"),
    ({"type": "parquet", "path": "chats.parquet", "text_field": "messages"}, "holds chat messages: set format: chat"),
    ({"type": "parquet", "path": "paras.parquet", "format": "chat", "messages_field": "body"},
     "sources.notes.messages_field: column 'body' of"),
    ({"type": "parquet", "path": "paras.parquet", "split": "train"}, "split: only for type hf_dataset"),
]


@pytest.mark.parametrize("spec, message", LOCATED)
def test_a_config_error_is_one_line_at_the_sources_line(data, spec, message):
    path = config(data, {"notes": spec})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 1, err.value.problems
    line = err.value.problems[0]
    assert line.startswith(f"{path}:"), line  # file:line: key.path: message
    assert int(line.split(":")[1]) in (3, 4, 5, 6, 7), line  # a line of the notes source
    assert message in line


def test_a_mistyped_type_names_the_dataset_types(data):
    with pytest.raises(ConfigError, match=r"sources.notes.type: unknown source type 'parqet'; did you mean "
                                          r"'parquet'\? \(types: .*hf_dataset, parquet, arrow, json\)"):
        load_config(config(data, {"notes": {"type": "parqet", "path": "paras.parquet"}}))


def test_a_config_given_as_a_dict_fails_on_the_same_problem_when_its_sources_are_built(data):
    cfg = validate_config({"sources": {"notes": {"type": "hf_dataset", "path": str(data / "notes"),
                                                 "text_field": "body"}},
                           "stages": [{"name": "a", "mix": {"notes": 1}, "until": {"steps": 1}}]})
    with pytest.raises(DataError, match=r"^sources.notes.text_field: no column 'body' in .* \(columns: text, n\)$"):
        build_sources(cfg)


def test_a_dataset_source_pickles_for_data_loader_workers(data):
    import pickle

    src = open_sources(data, SOURCES)["paras"]
    copy = pickle.loads(pickle.dumps(src))
    assert [copy.draw("train", c)[0].text for c in range(0, 40, 7)] == [src.draw("train", c)[0].text
                                                                         for c in range(0, 40, 7)]
