"""Readiness rules, kept here under their old name: they live in :mod:`handhold.rules` now
(one vocabulary for the curriculum, the grokking lab and the integrations)."""

from __future__ import annotations

from ..rules import PlateauDetector, PlateauRule, ThresholdDetector, ThresholdRule, rule_from_until

__all__ = ["PlateauDetector", "PlateauRule", "ThresholdDetector", "ThresholdRule", "rule_from_until"]
