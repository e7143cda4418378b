"""The grokking lab: does an explicit curriculum make grokking come sooner, or more legibly?

``tasks`` (binary operations mod p, seeded splits) -> ``model`` (Nanda's 1-layer and Power's
2-layer transformers, last-position fast path) -> ``train`` (one run into a run store: full
batch or minibatch AdamW, Grokfast filters, matched-compute sample counting, curricula from
``curricula`` with fixed or readiness switches, progress measures from ``measures``) ->
``experiment`` (variants x seeds, medians and bootstrap intervals) -> ``report`` (HTML) and
``command`` (``handhold grok``). Settings: ``config`` (pydantic) and ``presets``.
"""
