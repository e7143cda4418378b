"""Evaluation: exact scoring of generated reasoning, answer matching, the wrong-answer audit
and gauntlet-style aggregation (pure Python, no model), plus the in-loop parts that run a
model (`suite`, `generation`), imported from their own modules.
"""

from handhold.evals.aggregate import GauntletSpec, aggregate, centered
from handhold.evals.answers import answers_agree, exact_match, normalize_answer
from handhold.evals.audit import VERDICTS, AuditTable, AuditVerdict, audit, audit_table, format_audit_table
from handhold.evals.reasoning import ReasoningScore, mean_scores, score_reasoning

__all__ = [
    "VERDICTS", "AuditTable", "AuditVerdict", "GauntletSpec", "ReasoningScore", "aggregate",
    "answers_agree", "audit", "audit_table", "centered", "exact_match", "format_audit_table",
    "mean_scores", "normalize_answer", "score_reasoning",
]
