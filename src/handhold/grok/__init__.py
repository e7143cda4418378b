"""The grokking lab: does an explicit curriculum make grokking come sooner, or more legibly?

``tasks`` (binary operations mod p, seeded splits) -> ``model`` (Nanda's 1-layer and Power's
2-layer transformers, last-position fast path) -> ``train`` (one run into a run store: full
batch or minibatch, matched-compute sample counting, progress measures from ``measures``;
``batched``: many seeds stacked; both record through ``seedrun``) -> ``experiment`` (variants x
seeds, medians and bootstrap intervals, each against its declared baseline) -> ``report`` (HTML)
and ``command`` (``handhold grok``). Settings: ``config`` (pydantic) and ``presets``. What a
variant can switch on is registered in ``mechanisms`` (``curricula``, ``grokfast``) and
``optim.OPTIMIZERS``.
"""
