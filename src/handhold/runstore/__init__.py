"""A run on disk and its two doors.

- :mod:`.live` — the live run's writer, ``handhold.init/log/finish`` (one per run, under :mod:`.lock`);
- :mod:`.amend` — ``handhold.amend``: short transactions into an existing run (a checkpoint
  re-scored, a chat exchange, a person's label), safe beside a live writer;
- :mod:`.db` — the SQLite store both doors write through and every view reads;
- :mod:`.layout` — where a run directory keeps its store, config and checkpoints;
- :mod:`.listing` — the runs under a folder and their state (running, finished, crashed, ...);
- :mod:`.validate` — the checks both doors apply to keys, values and steps.

Nothing else opens a run store for writing (``tests/test_store_doors.py`` holds it).
"""
