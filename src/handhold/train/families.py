"""The in-loop metric families: which callbacks add metrics to a run, in the order they run.

A *metric family* is one callback that adds a group of metrics to ``state.logs`` during
training (held-out loss, the eval suite, probes, internal measures, ...). The runner builds
one callback per entry of :data:`FAMILIES`, in its order, then the user's own callbacks, then
the store writer (it persists what they logged). A family is added in two places: its module
(a :class:`~handhold.train.events.Callback`, and its pydantic settings if it has any) and one
line in :data:`FAMILIES`::

    MetricFamily("grad_noise", GradNoise, settings=GradNoiseSettings),

after which a run config may say ``metric_families: {grad_noise: {every: 50}}``.

A family of the run schema reads its own section of the config (``section`` says which, for a
reader). A family added outside the schema declares a pydantic ``settings`` model instead: its
values are read from the run config's ``metric_families.<name>`` mapping and validated here, so
a typo in a YAML key is an error naming its key path before the model loads; the callback is then built as
``callback(settings)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..config import ConfigError, RunConfig
from .callbacks.benchmarks import BenchmarkEvals
from .callbacks.evaluate import EvalSuite, LmEvalMilestones
from .callbacks.heldout import HeldOutLoss
from .callbacks.measures import Measures
from .callbacks.probes import Probes
from .events import Callback

SETTINGS_KEY = "metric_families"  # the run config's mapping of family name -> settings


@dataclass(frozen=True)
class MetricFamily:
    """One family: ``callback`` builds its callback for a run (with no argument, or with its
    validated ``settings`` when the family declares a settings model)."""

    name: str
    callback: Callable[..., Callback]
    section: str = ""  # the run config section it reads (a family of the schema)
    settings: type[BaseModel] | None = None  # its settings, read from `metric_families.<name>`

    def build(self, cfg: RunConfig) -> Callback:
        if self.settings is None:
            return self.callback()
        return self.callback(read_settings(cfg, self))


FAMILIES: dict[str, MetricFamily] = {f.name: f for f in (
    MetricFamily("heldout_loss", HeldOutLoss, section="eval"),
    MetricFamily("eval_suite", EvalSuite, section="evals"),
    MetricFamily("lm_eval", LmEvalMilestones, section="evals.lm_eval"),
    MetricFamily("benchmarks", BenchmarkEvals, section="evals.benchmarks"),
    MetricFamily("probes", Probes, section="probes"),
    MetricFamily("measures", Measures, section="measures"),
)}


def read_settings(cfg: RunConfig, family: MetricFamily) -> BaseModel:
    """``family``'s settings from the run config (its defaults where the config has none)."""
    assert family.settings is not None
    raw = family_sections(cfg).get(family.name) or {}
    try:
        return family.settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([f"{SETTINGS_KEY}.{family.name}"
                           + "".join(f".{p}" for p in err["loc"]) + f": {err['msg']}"
                           for err in exc.errors()]) from None


def family_sections(cfg: RunConfig) -> dict[str, Any]:
    return dict(cfg.metric_families)


def check_families(cfg: RunConfig) -> None:
    """Refuse settings for a family that is not registered, or settings a family's model rejects
    (before the run starts: a typo must not cost a model load)."""
    unknown = [name for name in family_sections(cfg) if name not in FAMILIES]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(FAMILIES), n=1, cutoff=0.6)
        raise ConfigError([f"{SETTINGS_KEY}.{unknown[0]}: no metric family of that name"
                           + (f"; did you mean {close[0]!r}?" if close else "")
                           + f" (families: {', '.join(FAMILIES)})"])
    for family in FAMILIES.values():
        if family.settings is not None:
            read_settings(cfg, family)
        elif family.name in family_sections(cfg):
            raise ConfigError([f"{SETTINGS_KEY}.{family.name}: this family reads the "
                               f"'{family.section}' section, not {SETTINGS_KEY}"])


def family_callbacks(cfg: RunConfig, extra: Sequence[Callback] = ()) -> list[Callback]:
    """One callback per registered family, in registry order, then ``extra``."""
    return [family.build(cfg) for family in FAMILIES.values()] + list(extra)
