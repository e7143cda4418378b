"""Two doors write a run store, and only they: nothing else in ``src/`` opens the database for writing.

The live run (``handhold.init``, ``runstore/live.py``) and the amend door (``handhold.amend``,
``runstore/amend.py``) write through the store (``runstore/db.py``). This test reads every module under
``src/handhold`` and fails on a new side door: a ``sqlite3.connect`` that is not read-only, a
``RunStore.open`` or a ``RunStore(...)`` built by hand, a reach into a run's private store, or
SQL that changes a database. Read-only connections (a ``mode=ro`` URI opened with ``uri=True``,
as the importer reads a trackio database) are fine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "handhold"
STORE = "runstore/db.py"  # opens the database, holds the SQL
DOORS = {"runstore/live.py", "runstore/amend.py"}  # the two writers: they alone open a RunStore for writing
WRITE_SQL = re.compile(r"\b(INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|REPLACE\s+INTO|"
                       r"(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW|TRIGGER)|VACUUM)\b", re.IGNORECASE)


def _read_only_connect(call: ast.Call) -> bool:
    """``sqlite3.connect("file:...?mode=ro", uri=True)``: the URI's text says ``mode=ro``."""
    if not call.args or not any(k.arg == "uri" and isinstance(k.value, ast.Constant) and k.value.value is True
                                for k in call.keywords):
        return False
    first = call.args[0]
    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
    text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
    return "mode=ro" in text


def side_doors(source: str, name: str) -> list[str]:
    """Every place in one module's ``source`` that could write a run store outside the doors."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            f = node.func
            dotted = (f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                      else f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
            if dotted in ("sqlite3.connect", "connect") and name != STORE and not _read_only_connect(node):
                found.append(f"{where}: sqlite3.connect that is not a read-only (mode=ro) URI")
            if dotted == "RunStore.open" and name not in DOORS | {STORE}:
                found.append(f"{where}: RunStore.open (write through handhold.init or handhold.amend)")
            if dotted == "RunStore" and name != STORE:
                found.append(f"{where}: a RunStore built by hand")
        if isinstance(node, ast.Attribute) and node.attr in ("_store", "_writer", "_conn") and name not in DOORS | {STORE}:
            found.append(f"{where}: reaches into a private store (.{node.attr})")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and name != STORE \
                and WRITE_SQL.search(node.value):
            found.append(f"{where}: SQL that writes ({WRITE_SQL.search(node.value).group(0)!r})")
    return found


def test_nothing_outside_the_two_doors_writes_a_run_store():
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 50 and (SRC / STORE).is_file() and all((SRC / d).is_file() for d in DOORS)
    found = [hit for path in modules for hit in side_doors(path.read_text(encoding="utf-8"),
                                                            path.relative_to(SRC).as_posix())]
    assert found == [], "write the run store through handhold.init or handhold.amend:\n" + "\n".join(found)


@pytest.mark.parametrize("snippet", [
    "import sqlite3\nsqlite3.connect(path)",
    "import sqlite3\nsqlite3.connect(path, timeout=30.0, isolation_level=None)",
    "import sqlite3\nsqlite3.connect(f'file:{path}?mode=rw', uri=True)",
    "import sqlite3\nsqlite3.connect(f'file:{path}?mode=ro')",  # without uri=True the text is a file name
    "from sqlite3 import connect\nconnect(path)",
    "from handhold.runstore.db import RunStore\nRunStore.open(run_dir)",
    "from handhold.runstore.db import RunStore\nRunStore(conn, path, readonly=False)",
    "run._store.append_metrics(1, {'x': 1.0})",
    "store.query('INSERT INTO labels VALUES (1)')",
    "conn.execute('delete from metrics where step > ?', (3,))",
    "conn.execute('CREATE TABLE IF NOT EXISTS notes (x)')",
    "conn.execute(\"UPDATE meta SET value = '1'\")",
])
def test_the_scan_catches_each_kind_of_side_door(snippet):
    assert len(side_doors(snippet, "views/new.py")) == 1


@pytest.mark.parametrize("snippet", [
    "import sqlite3\nsqlite3.connect(f'file:{path}?mode=ro', uri=True)",  # the importer's reads
    "from handhold.runstore.db import RunStore\nRunStore.reader(run_dir)",
    "store.query('SELECT step, value FROM metrics WHERE key = ?', (k,))",
    "import handhold\nwith handhold.amend(d) as run:\n    run.replace({'a': 1.0}, step=3)",
    "text = 'delete the run directory from the dashboard'",
])
def test_the_scan_lets_reads_and_the_doors_pass(snippet):
    assert side_doors(snippet, "views/new.py") == []


def test_the_doors_themselves_may_open_the_store():
    assert side_doors("from .db import RunStore\nRunStore.open(d, create=False)", "runstore/amend.py") == []
    assert side_doors("from .db import RunStore\nRunStore.open(d)", "runstore/live.py") == []
