"""The documentation says only what exists: the site builds strictly (every API page's names
resolve, every link and anchor lands), a name the reference points at that is gone fails the
build, every ``handhold ...`` command and option the pages show is one the CLI has, the Run API
examples run as written, and the README stays a short front page with the two commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]

sys.path.insert(0, str(DOCS / "hooks"))
import cli_reference  # noqa: E402
import floors  # noqa: E402
import front_page  # noqa: E402
import rest_docstrings  # noqa: E402

sys.path.remove(str(DOCS / "hooks"))


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "--site-dir", str(site)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------ the site builds, strictly
@pytest.mark.slow  # the whole site, about 10-25 s; `make test` also builds it before pytest
def test_the_site_builds_strictly_with_the_api_reference_and_the_generated_pages(tmp_path):
    pytest.importorskip("mkdocstrings", reason="the docs extra: pip install 'handhold[docs]'")
    res = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert res.returncode == 0, res.stdout + res.stderr
    site = tmp_path / "site"
    live = (site / "reference" / "runstore-live" / "index.html").read_text(encoding="utf-8")
    assert 'id="handhold.runstore.live.Run.stage_end"' in live  # rendered from the docstrings
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("handhold train", "handhold analyze", "handhold grok", "handhold models import-gguf"):
        assert command in cli, command
    architecture = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    assert "<!-- floors -->" not in architecture and "<code>runstore</code>" in architecture
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "make demo" in home and 'href="curricula/"' in home  # the README, its links made relative
    assert "fonts.googleapis.com" not in home  # builds and reads offline


def test_a_reference_to_a_name_that_is_gone_fails_the_strict_build(tmp_path):
    pytest.importorskip("mkdocstrings", reason="the docs extra: pip install 'handhold[docs]'")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n::: handhold.runstore.live.Run.no_such_method\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: x\ndocs_dir: {docs}\nplugins:\n  - mkdocstrings:\n      handlers:\n"
                      f"        python:\n          paths: [{ROOT / 'src'}]\n")
    res = mkdocs_build(config, tmp_path / "site")
    assert res.returncode != 0 and "no_such_method" in res.stdout + res.stderr


# ------------------------------------------------------------------ commands the pages show exist
def shown_commands(text: str) -> list[tuple[str, list[str]]]:
    """``(where, argv after 'handhold')`` for each command a page shows: lines of its code blocks
    that run ``handhold`` (``$ handhold``, ``python -m handhold``, ``torchrun ... -m handhold``),
    and inline code that starts with ``handhold ``."""
    found = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            m = re.match(r"^(?:\$ )?handhold (.*)$", line) or re.search(r"-m handhold (.*)$", line)
            if m:
                found.append((line, m.group(1).split()))
    for span in re.findall(r"(?<!`)`(handhold [^`]+)`", text):
        found.append((span, span.split()[1:]))
    return found


def options_of(command) -> set[str]:
    return {o for p in command.params for o in [*p.opts, *p.secondary_opts]} | {"--help"}


def resolve(argv: list[str]):
    """The click command ``handhold argv...`` names and the words after it; None if none."""
    command, rest = cli_reference.cli(), list(argv)
    while hasattr(command, "list_commands") and rest:
        ctx = command.context_class(command, info_name="handhold")
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return None, rest
        command, rest = sub, rest[1:]
    return command, rest


def test_the_command_parser_sees_blocks_inline_code_and_launchers():
    text = ("Run `handhold report RUN -o x.html` or:\n\n```bash\n$ handhold runs runs/  # the list\n"
            "torchrun --nproc_per_node 4 -m handhold train demo --out runs/big\n```\n")
    assert shown_commands(text) == [("$ handhold runs runs/", ["runs", "runs/"]),
                                    ("torchrun --nproc_per_node 4 -m handhold train demo --out runs/big",
                                     ["train", "demo", "--out", "runs/big"]),
                                    ("handhold report RUN -o x.html", ["report", "RUN", "-o", "x.html"])]
    assert resolve(["models", "import-gguf", "x.gguf"])[0].name == "import-gguf"
    assert resolve(["no-such-command"])[0] is None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_and_option_a_page_shows_exists(page):
    problems = []
    for where, argv in shown_commands(page.read_text(encoding="utf-8")):
        if not argv:
            continue
        command, rest = resolve(argv)
        if command is None:
            problems.append(f"{where!r}: no command 'handhold {' '.join(argv[:2])}'")
            continue
        known = options_of(command)
        for word in rest:
            word = word.strip("[]()|,.;").split("=", 1)[0]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", word) and word not in known:
                problems.append(f"{where!r}: 'handhold {command.name}' has no option {word}")
    assert not problems, "\n".join(problems)


def test_the_cli_page_lists_every_command():
    reference = cli_reference.reference()
    root = cli_reference.cli()
    ctx = root.context_class(root, info_name="handhold")
    for name in root.list_commands(ctx):
        assert f"## `handhold {name}`" in reference, name
    assert "### `handhold models import-gguf`" in reference and "`-o, --out <path>`" in reference


# ------------------------------------------------------------------ the generated pieces
def test_the_floors_table_is_the_first_import_contract():
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    expected = [[m.strip() for m in layer.split(":")] for layer in reversed(contract["layers"])]
    got = floors.floors(ROOT / "pyproject.toml")
    assert [modules for _, modules in got] == expected
    assert got[0][0].startswith("ground") and got[-1][0].startswith("views")  # each floor's comment
    table = floors.table(ROOT / "pyproject.toml")
    assert "| 1. **ground**:" in table and "`runstore`" in table


def test_docstrings_read_as_markdown():
    text = "Use :func:`~handhold.rules.cap` here::\n\n    code\n\n>>> 1 + 1\n2\n\nAfter."
    assert rest_docstrings.markdown(text) == ("Use `handhold.rules.cap` here:\n\n    code\n\n"
                                              "```pycon\n>>> 1 + 1\n2\n```\n\nAfter.")
    assert front_page.front_page("[a](docs/a.md)") == "[a](a.md)"


# ------------------------------------------------------------------ the pages and the README
def test_every_page_is_in_the_navigation_and_every_entry_is_a_page():
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert set(nav) == pages


def test_the_readme_is_a_short_front_page_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert re.search(r"^make demo\s+#", readme, flags=re.M) and re.search(r"^make test\s+#", readme, flags=re.M)
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (ROOT / image).is_file() and (ROOT / image).stat().st_size <= 300_000, image
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_the_run_api_examples_run_as_written(tmp_path, monkeypatch):
    """The page's Python blocks that need no framework run in order, in one namespace."""
    text = (DOCS / "run-api.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
              if not re.search(r"transformers|lightning", b)]
    assert len(blocks) >= 3  # the own loop, the stage tracker, the amend door
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/run-api.md", "exec"), namespace)
    from handhold.runstore.db import RunStore

    with RunStore.reader(tmp_path / "runs" / "ruled") as store:
        reasons = [e.data["reason"] for e in store.events("stage_end")]
    assert reasons == ["budget", "plateau"]


def test_every_api_request_the_dashboard_page_lists_is_served(tmp_path):
    pytest.importorskip("fastapi")
    from handhold.views.dashboard import create_app

    served = {(method, route.path) for route in create_app(tmp_path).routes
              for method in getattr(route, "methods", None) or ()}
    listed = re.findall(r"^\| `(GET|POST|PUT|DELETE) ([^`]+)`", (DOCS / "dashboard.md").read_text(), flags=re.M)
    assert len(listed) >= 9
    missing = [f"{m} {p}" for m, p in listed if (m, "/api/" + p) not in served]
    assert not missing, f"the page lists requests the dashboard does not serve: {missing}"


def test_the_notebook_examples_run_as_written_on_a_curriculum_run_and_its_baseline(tmp_path, monkeypatch):
    """The comparison page's Python blocks, on two runs written through the Run API."""
    pytest.importorskip("pandas")
    import handhold

    monkeypatch.chdir(tmp_path)
    for name, lr, drop in (("curriculum", 3e-3, 0.5), ("baseline", 1e-3, 0.0)):
        with handhold.init(f"runs/{name}", config={"optim": {"lr": lr}}) as run:
            run.stage("general", step=0)
            for step in range(10, 101, 10):
                run.log({"eval/loss/physics": 2.0 - drop * step / 100, "eval/loss/general": 1.0}, step=step)
            run.stage_end("budget", step=100, steps=100)
    text = (DOCS / "compare-and-read.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/compare-and-read.md", "exec"), namespace)
    df = namespace["df"]
    assert list(df.columns) == ["curriculum", "baseline"] and df.loc[100, "curriculum"] == pytest.approx(1.5)
    table = namespace["table"].set_index("run")
    assert table.loc["baseline", "config.optim.lr"] == pytest.approx(1e-3)
    assert list(namespace["run"].stages()["reason"]) == ["budget"]
