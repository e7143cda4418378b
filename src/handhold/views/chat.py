"""Talk to any checkpoint of a run: the "exploration server" of the seed, done with bounds.

A checkpoint directory (``RUN_DIR/checkpoints/step_XXXXXXX/``) is a plain Hugging Face model
directory, loaded with ``local_files_only=True`` (nothing is ever downloaded). Generation is
bounded four ways: the message length (``max_prompt_chars``), the earlier turns (the newest 8,
and of them the newest ``max_history_chars`` characters), the new tokens (``max_new_tokens``, and
at most half the model's context when the prompt would not leave room) and the wall time
(``timeout_s``, passed to ``generate(max_time=...)``, which stops between tokens and keeps what
was generated). The prompt keeps the latest turns that fit the model's context. A model with a
chat template (an instruction-tuned one, e.g. SmolLM2) is spoken to through it; tokens are
streamed as they come (:meth:`Chat.start`), with temperature and top-p sampling.

Every exchange is saved to the run store as a sample of kind ``chat`` at the checkpoint's step,
through the amend door (:func:`handhold.amend`: one short transaction, safe beside a trainer
that is still writing the run, whose flush it waits out instead of failing).
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runstore.amend import amend
from ..runstore.db import RunStore, StoreError

CHAT_KIND = "chat"


class ChatError(ValueError):
    """A chat request that cannot be served as asked (no such checkpoint, message too long)."""


@dataclass(frozen=True)
class ChatLimits:
    max_new_tokens: int = 96
    max_prompt_chars: int = 2000
    max_history_chars: int = 16_000  # of the earlier turns, the newest characters kept
    timeout_s: float = 20.0
    temperature: float = 0.7
    top_p: float = 1.0


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
    """Steps of the checkpoints of a run that hold a whole model or LoRA adapters (see :mod:`handhold.runstore.layout`)."""
    from ..runstore.layout import MODEL_FILES, complete_checkpoints

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
    from ..runstore.layout import checkpoint_dir

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
        from transformers.utils import logging as hf_logging

        from ..runstore.layout import CheckpointError, load_model

        hf_logging.disable_progress_bar()
        try:
            model, tok = load_model(path)  # every weight used, every parameter filled
        except CheckpointError as exc:
            raise ChatError(str(exc)) from None
        except Exception as exc:  # a damaged or tampered checkpoint: say so, whatever broke
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ChatError(f"{path}: cannot load this checkpoint ({type(exc).__name__}: {first[:300]})") from exc
        model.eval()
        self._cache[key] = (tok, model)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return tok, model

    def load(self, run_dir: Path, step: int | None) -> int:
        """Load a checkpoint now (ChatError if it cannot be); returns its step."""
        step, path = checkpoint_path(run_dir, step)
        with self._lock:
            self._load(path)
        return step

    def reply(self, run_dir: Path, step: int | None, message: str,
              history: Sequence[tuple[str, str]] = (), *, max_new_tokens: int | None = None,
              temperature: float | None = None, top_p: float | None = None, save: bool = True) -> Reply:
        """The checkpoint's answer to ``message`` after the earlier ``(message, reply)`` turns."""
        reply = None
        for piece in self.start(run_dir, step, message, history, max_new_tokens=max_new_tokens,
                                temperature=temperature, top_p=top_p, save=save):
            if isinstance(piece, Reply):
                reply = piece
        assert reply is not None
        return reply

    def compare(self, run_dir: Path, steps: Sequence[int], message: str,
                history: Sequence[tuple[str, str]] = (), **kwargs: Any) -> list[Reply]:
        """Several checkpoints answering the same message (each exchange saved at its step)."""
        for step in steps:  # every checkpoint exists and loads before any generation starts
            checkpoint_path(run_dir, step)
        return [self.reply(run_dir, step, message, history, **kwargs) for step in steps]

    def start(self, run_dir: Path, step: int | None, message: str,
              history: Sequence[tuple[str, str]] = (), *, max_new_tokens: int | None = None,
              temperature: float | None = None, top_p: float | None = None,
              save: bool = True) -> Iterator[str | Reply]:
        """Check the request and load the checkpoint now (ChatError), then stream: an iterator
        of text pieces as they are generated, ending with the :class:`Reply`."""
        lim = self.limits
        if not message.strip():
            raise ChatError("empty message")
        if len(message) > lim.max_prompt_chars:
            raise ChatError(f"message is {len(message)} characters; the limit is {lim.max_prompt_chars}")
        new = min(max_new_tokens or lim.max_new_tokens, lim.max_new_tokens)
        temp = lim.temperature if temperature is None else temperature
        top_p = lim.top_p if top_p is None else top_p
        if not (math.isfinite(temp) and 0 <= temp <= 5):
            raise ChatError(f"temperature must be a number in [0, 5] (got {temp})")
        if not (math.isfinite(top_p) and 0 < top_p <= 1):
            raise ChatError(f"top_p must be a number in (0, 1] (got {top_p})")
        step, path = checkpoint_path(run_dir, step)
        if save:
            check_store(run_dir)  # the exchange will be saved there: a damaged store is refused now
        with self._lock:
            self._load(path)
        turns = _trim_history(history, lim.max_history_chars)
        return self._stream(run_dir, step, path, message, turns, new, temp, top_p, save)

    def _stream(self, run_dir: Path, step: int, path: Path, message: str, history: list[tuple[str, str]],
                new: int, temp: float, top_p: float, save: bool) -> Iterator[str | Reply]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class _Cancelled(StoppingCriteria):  # the reader went away: stop between tokens
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> bool:
                return cancel.is_set()

        cancel, result, pieces = threading.Event(), {}, []
        with self._lock:
            tok, model = self._load(path)
            ids, new = self._encode(tok, model, message, history, new)
            streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
            sampling = {"do_sample": True, "temperature": temp, "top_p": top_p, "top_k": 50} if temp > 0 else \
                {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}

            def run() -> None:
                try:
                    with torch.no_grad():
                        result["out"] = model.generate(
                            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            max_new_tokens=new, max_time=self.limits.timeout_s, streamer=streamer,
                            stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                            eos_token_id=tok.eos_token_id, **sampling)
                except BaseException as exc:  # noqa: BLE001 - reported to the reader below
                    result["error"] = exc
                    streamer.end()

            t0 = time.monotonic()
            worker = threading.Thread(target=run, name="handhold-chat", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        pieces.append(piece)
                        yield piece
            finally:
                cancel.set()
                worker.join()
            seconds = time.monotonic() - t0
        if "error" in result:
            exc = result["error"]
            raise ChatError(f"generation failed ({type(exc).__name__}: {exc})") from exc
        gen = result["out"][0, len(ids):].tolist()
        if tok.eos_token_id is not None and tok.eos_token_id in gen:
            gen, stopped = gen[:gen.index(tok.eos_token_id)], "eos"
        elif len(gen) >= new:
            stopped = "max_new_tokens"
        else:
            stopped = "timeout"
        text = "".join(pieces)
        reply = Reply(text=text, step=step, stopped=stopped, new_tokens=len(gen), seconds=seconds)
        if save:
            try:
                save_exchange(run_dir, step, message, text)
            except (StoreError, sqlite3.Error, OSError) as exc:  # damaged or replaced since the check
                raise ChatError(f"the reply was not saved: {exc}") from exc
        yield reply

    @staticmethod
    def _encode(tok: Any, model: Any, message: str, history: list[tuple[str, str]],
                new: int) -> tuple[list[int], int]:
        """Token ids of the conversation (oldest turns dropped first) and the new tokens allowed:
        prompt + reply always fit the context; the reply gets at most half of a short one."""
        from ..evals.generation import context_length

        context = context_length(model)
        turns = [*history, (message, None)]
        if getattr(tok, "chat_template", None):
            msgs = []
            for user, answer in turns:
                msgs.append({"role": "user", "content": user})
                if answer is not None:
                    msgs.append({"role": "assistant", "content": answer})
            ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            ids = list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        else:  # a base model: the transcript as plain text, one turn a line
            text = "".join(f"{u}\n{a}\n" for u, a in turns[:-1]) + f"{message}\n"
            ids = tok(text, add_special_tokens=False)["input_ids"]
            if tok.bos_token_id is not None:
                ids = [tok.bos_token_id, *ids]
        if len(ids) + new > context:  # not enough room: shorten the reply to half the context at most
            new = max(1, max(context - len(ids), min(new, context // 2)))
        return ids[-(context - new):], new


def _trim_history(history: Sequence[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """The newest 8 turns, and of them only the newest ``limit`` characters (cut from the left)."""
    out: list[tuple[str, str]] = []
    left = limit
    for user, answer in reversed(list(history)[-8:]):
        if left <= 0:
            break
        answer = answer[-left:] if answer else ""
        left -= len(answer)
        user = user[-left:] if left > 0 and user else ""
        left -= len(user)
        out.append((user, answer))
    return out[::-1]


def check_store(run_dir: Path) -> None:
    """A ChatError unless ``run_dir`` holds a readable handhold run store (where the exchange
    is saved): random bytes, an empty file or a damaged schema are refused before any generation."""
    try:
        with RunStore.reader(run_dir) as store:
            if store.get_meta("schema_version") is None:
                raise StoreError(f"{store.path}: not a handhold run store (no schema version)")
    except StoreError as exc:
        raise ChatError(str(exc)) from None
    except sqlite3.Error as exc:
        raise ChatError(f"{run_dir}: unreadable run store ({exc})") from None


def save_exchange(run_dir: Path, step: int, message: str, reply: str) -> None:
    """One ``chat`` sample at the checkpoint's ``step``, written through the amend door."""
    with amend(run_dir) as run:
        run.sample(CHAT_KIND, message, reply, step=step)
