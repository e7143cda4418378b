"""Build the model and tokenizer: a Hugging Face causal LM from a config, or a local directory.

Nothing here downloads: the default tokenizer is character-level and defined in code (digits
and operators are single tokens, which suits the procedural tasks), and the default model is
a tiny GPT-2 built from its config. ``model.path`` loads any local HF model directory with
``local_files_only=True``.

A relative ``model.path`` (or tokenizer path) is looked up where a user expects it
(`resolve_model_path`): next to the config file first (a config that writes
``../models/x`` beside its own folder), then in the current working directory (the built-in
configs, which live inside the package, write ``models/smollm2-135m-instruct``: the folder
``make real-model`` creates in the checkout, or wherever ``handhold models import-gguf`` was
pointed from the folder the command runs in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ModelConfig

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
CHARS = tuple(chr(i) for i in range(32, 127)) + ("\n",)

# A tiny GPT-2: trains on a laptop CPU in minutes, same code path as a large one.
TINY_GPT2 = {"n_layer": 2, "n_head": 4, "n_embd": 128, "resid_pdrop": 0.0,
             "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def char_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` with one token per printable ASCII character."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + CHARS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    # Texts start with <bos> in training; tools that tokenize with special tokens (lm-eval, chat) agree.
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")


def load_tokenizer(cfg: ModelConfig) -> Any:
    if cfg.path is not None and cfg.tokenizer == "chars" and _has_tokenizer(Path(cfg.path)):
        source = cfg.path
    elif cfg.tokenizer == "chars":
        return char_tokenizer()
    else:
        source = cfg.tokenizer
    from transformers import AutoTokenizer

    if not Path(source).is_dir():
        raise FileNotFoundError(f"tokenizer directory {source!r} not found (handhold never downloads)")
    tok = AutoTokenizer.from_pretrained(source, local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


MODEL_HINT = ("a relative model.path is looked up next to the config file, then in the working directory; "
              "SmolLM2-135M-Instruct: `make real-model` in the checkout, or `handhold models import-gguf "
              "smollm2 --out models/smollm2-135m-instruct` in the folder you train from")


def resolve_model_path(path: str, config_dir: Path, cwd: Path | None = None) -> str:
    """An absolute path for ``path``: itself when absolute, else the first existing folder of
    ``config_dir / path`` and ``cwd / path``; when neither exists, the working-directory one for a
    built-in config (inside the package) and the config-relative one otherwise, so the error names
    the place the user would have put it."""
    p = Path(path)
    if p.is_absolute():
        return str(p)
    cwd = cwd or Path.cwd()
    candidates = [(config_dir / p).resolve(), (cwd / p).resolve()]
    for c in candidates:
        if c.exists():
            return str(c)
    package = Path(__file__).resolve().parent
    inside = config_dir.resolve() == package or package in config_dir.resolve().parents
    return str(candidates[1] if inside else candidates[0])


def _has_tokenizer(path: Path) -> bool:
    return any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))


def build_model(cfg: ModelConfig, tokenizer: Any, seq_len: int, seed: int) -> torch.nn.Module:
    """A causal LM; weights initialised from ``seed`` so every process starts identical."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if cfg.path is not None:
        if not Path(cfg.path).is_dir():
            raise FileNotFoundError(f"model.path {cfg.path!r} is not a directory ({MODEL_HINT})")
        from .adapters import prepare_model

        model = AutoModelForCausalLM.from_pretrained(cfg.path, local_files_only=True)
        return prepare_model(model, cfg)
    overrides = dict(TINY_GPT2) if cfg.arch == "gpt2" else {}
    overrides.update(cfg.config)
    overrides.setdefault("vocab_size", len(tokenizer))
    pos_key = "n_positions" if cfg.arch == "gpt2" else "max_position_embeddings"
    overrides.setdefault(pos_key, seq_len)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        overrides.setdefault(name, getattr(tokenizer, name, None))
    from .config import ConfigError

    try:
        hf_config = AutoConfig.for_model(cfg.arch, **overrides)
    except ValueError:  # transformers lists every architecture it knows: too long for one line
        raise ConfigError([f"model.arch: unknown architecture {cfg.arch!r} (a transformers model "
                           "type such as gpt2, llama, qwen2)"]) from None
    except (TypeError, KeyError, AttributeError) as exc:
        raise ConfigError([f"model.config: not a valid {cfg.arch} config: {exc}"]) from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = AutoModelForCausalLM.from_config(hf_config)
        except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
            # e.g. n_embd not divisible by n_head, or an arch with no causal-LM head
            raise ConfigError([f"model.config: cannot build a {cfg.arch} model: "
                               f"{' '.join(str(exc).split())}"]) from None
    return model


class BatchEncoder:
    """Texts -> fixed-length (input_ids, labels) rows: ``<bos> text <eos>``, padded, truncated.

    The char tokenizer gets a vectorised lookup (a table over bytes) so that feeding data
    stays a rounding error next to the model step; any other tokenizer goes through HF.
    """

    def __init__(self, tokenizer: Any, seq_len: int) -> None:
        self.tokenizer = tokenizer
        self.seq_len = seq_len
        self.pad_id = tokenizer.pad_token_id
        self.bos_id = tokenizer.bos_token_id
        self.eos_id = tokenizer.eos_token_id
        self._table = _byte_table(tokenizer)

    def encode(self, texts: list[str]) -> list[list[int]]:
        if self._table is None or not all(t.isascii() for t in texts):
            return self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [self._table[np.frombuffer(t.encode("ascii"), dtype=np.uint8)].tolist() for t in texts]

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``labels`` (B, T<=seq_len), -100 on padding; T is the longest row."""
        T = self.seq_len
        ids = torch.full((len(texts), T + 1), self.pad_id, dtype=torch.long)
        keep = torch.zeros((len(texts), T + 1), dtype=torch.bool)
        for row, toks in enumerate(self.encode(texts)):
            seq = ([self.bos_id] if self.bos_id is not None else []) + toks + [self.eos_id]
            seq = seq[: T + 1]
            ids[row, : len(seq)] = torch.tensor(seq)
            keep[row, : len(seq)] = True
        width = int(keep.sum(1).max()) - 1  # trim padding columns no row uses
        labels = ids[:, 1:width + 1].clone()
        labels[~keep[:, 1:width + 1]] = -100
        return ids[:, :width].contiguous(), labels


def _byte_table(tokenizer: Any) -> np.ndarray | None:
    """A byte -> id table when the tokenizer is exactly handhold's char tokenizer."""
    vocab = tokenizer.get_vocab()
    if len(vocab) != len(SPECIAL_TOKENS) + len(CHARS) or any(c not in vocab for c in CHARS):
        return None
    table = np.full(256, vocab["<unk>"], dtype=np.int64)
    for c in CHARS:
        table[ord(c)] = vocab[c]
    return table
