"""Talk to any checkpoint of a run: the "exploration server" of the seed, done with bounds.

A checkpoint directory (``RUN_DIR/checkpoints/step_XXXXXXX/``) is a plain Hugging Face model
directory, loaded with ``local_files_only=True`` (nothing is ever downloaded). Generation is
bounded three ways: the message length (``max_prompt_chars``), the new tokens
(``max_new_tokens``) and the wall time (``timeout_s``, passed to ``generate(max_time=...)``,
which stops between tokens and keeps what was generated). The prompt keeps the latest turns
that fit the model's context.

Every exchange is saved to the run store as a sample of kind ``chat`` at the checkpoint's step,
through a short-lived writer (``RunStore.open`` for one insert, then closed): SQLite in WAL mode
lets it share the file with a trainer that is still writing, and the 30 s busy timeout of
``RunStore.open`` waits out the trainer's flush transaction (milliseconds) instead of failing.
This is the only write the views ever make to a run.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import RunStore

CHAT_KIND = "chat"


class ChatError(ValueError):
    """A chat request that cannot be served as asked (no such checkpoint, message too long)."""


@dataclass(frozen=True)
class ChatLimits:
    max_new_tokens: int = 96
    max_prompt_chars: int = 2000
    timeout_s: float = 20.0
    temperature: float = 0.7


@dataclass(frozen=True)
class Reply:
    text: str
    step: int
    stopped: str  # "eos" | "max_new_tokens" | "timeout"
    new_tokens: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "step": self.step, "stopped": self.stopped,
                "new_tokens": self.new_tokens, "seconds": round(self.seconds, 3)}


def checkpoints(run_dir: Path) -> list[int]:
    """Steps of the checkpoints of a run that hold a whole model (see :mod:`handhold.rundir`)."""
    from ..rundir import MODEL_FILES, complete_checkpoints

    return [step for step, _ in complete_checkpoints(run_dir, MODEL_FILES)]


def checkpoint_path(run_dir: Path, step: int | None) -> tuple[int, Path]:
    """The checkpoint at ``step`` (the latest when None), or a ChatError naming what exists."""
    found = checkpoints(run_dir)
    if not found:
        raise ChatError(f"{run_dir}: no checkpoint to talk to yet (checkpoints/step_* is empty)")
    if step is None:
        step = found[-1]
    elif step not in found:
        raise ChatError(f"{run_dir}: no checkpoint at step {step}; there are: "
                        + ", ".join(map(str, found)))
    from ..rundir import checkpoint_dir

    return step, checkpoint_dir(run_dir, step)


class Chat:
    """Loads checkpoints (the two most recent stay in memory) and answers one message at a time.

    One generation runs at a time (a lock): the server may be on the same cores as a trainer.
    """

    def __init__(self, limits: ChatLimits | None = None, *, cache_size: int = 2) -> None:
        self.limits = limits or ChatLimits()
        self._cache: OrderedDict[Path, tuple[Any, Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _load(self, path: Path) -> tuple[Any, Any]:
        key = path.resolve()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ChatError(f"{path}: cannot load this checkpoint ({exc})") from exc
        model.eval()
        self._cache[key] = (tok, model)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return tok, model

    def reply(self, run_dir: Path, step: int | None, message: str,
              history: list[tuple[str, str]] = (), *, max_new_tokens: int | None = None,
              temperature: float | None = None, save: bool = True) -> Reply:
        """The checkpoint's answer to ``message`` after the earlier ``(message, reply)`` turns."""
        lim = self.limits
        if not message.strip():
            raise ChatError("empty message")
        if len(message) > lim.max_prompt_chars:
            raise ChatError(f"message is {len(message)} characters; the limit is {lim.max_prompt_chars}")
        new = min(max_new_tokens or lim.max_new_tokens, lim.max_new_tokens)
        temp = lim.temperature if temperature is None else temperature
        step, path = checkpoint_path(run_dir, step)
        import torch

        with self._lock:
            tok, model = self._load(path)
            ids = self._encode(tok, model, message, history, new)
            t0 = time.monotonic()
            with torch.no_grad():
                out = model.generate(
                    torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    max_new_tokens=new, do_sample=temp > 0, temperature=temp if temp > 0 else None,
                    top_k=50 if temp > 0 else None, max_time=lim.timeout_s,
                    pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                    eos_token_id=tok.eos_token_id)
            seconds = time.monotonic() - t0
        gen = out[0, len(ids):].tolist()
        if tok.eos_token_id is not None and tok.eos_token_id in gen:
            gen, stopped = gen[:gen.index(tok.eos_token_id)], "eos"
        elif len(gen) >= new:
            stopped = "max_new_tokens"
        else:
            stopped = "timeout"
        text = tok.decode(gen, skip_special_tokens=True)
        reply = Reply(text=text, step=step, stopped=stopped, new_tokens=len(gen), seconds=seconds)
        if save:
            save_exchange(run_dir, step, message, text)
        return reply

    @staticmethod
    def _encode(tok: Any, model: Any, message: str, history: list[tuple[str, str]], new: int) -> list[int]:
        """Token ids of the conversation, oldest turns dropped first to fit the context."""
        context = getattr(model.config, "n_positions", None) or getattr(
            model.config, "max_position_embeddings", 1024)
        budget = max(1, context - new)
        turns = [*history[-8:], (message, None)]
        if getattr(tok, "chat_template", None):
            msgs = []
            for user, answer in turns:
                msgs.append({"role": "user", "content": user})
                if answer is not None:
                    msgs.append({"role": "assistant", "content": answer})
            ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)
        else:  # a base model: the transcript as plain text, one turn a line
            text = "".join(f"{u}\n{a}\n" for u, a in turns[:-1]) + f"{message}\n"
            ids = tok(text, add_special_tokens=False)["input_ids"]
            if tok.bos_token_id is not None:
                ids = [tok.bos_token_id, *ids]
        return ids[-budget:]


def save_exchange(run_dir: Path, step: int, message: str, reply: str) -> None:
    """One ``chat`` sample, written through a writer opened for this insert alone."""
    store = RunStore.open(run_dir)
    try:
        store.log_sample(step, CHAT_KIND, message, reply)
    finally:
        store.close()  # flushes: one short BEGIN IMMEDIATE transaction
