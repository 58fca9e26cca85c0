"""Evaluation of policies from logged decisions: off-policy value estimates (IPS, SNIPS,
doubly robust, per-episode importance sampling), agreement and confusion tables.

Pure numpy; the store and the CLI feed it arrays read from the audit trail.
"""

from rlexec.evaluation.off_policy import (
    ACTION_LABELS,
    CandidatePolicy,
    DecisionLog,
    OffPolicyReport,
    PolicyValueEstimate,
    agreement,
    candidate_choices,
    candidate_probabilities,
    confusion_table,
    doubly_robust,
    evaluate,
    format_confusion_table,
    greedy_actions,
    importance_weights,
    ips,
    logged_return,
    logged_value,
    per_decision_is,
    snips,
    stepwise_doubly_robust,
    weighted_per_decision_is,
)

__all__ = [
    "ACTION_LABELS",
    "CandidatePolicy",
    "DecisionLog",
    "OffPolicyReport",
    "PolicyValueEstimate",
    "agreement",
    "candidate_choices",
    "candidate_probabilities",
    "confusion_table",
    "doubly_robust",
    "evaluate",
    "format_confusion_table",
    "greedy_actions",
    "importance_weights",
    "ips",
    "logged_return",
    "logged_value",
    "per_decision_is",
    "snips",
    "stepwise_doubly_robust",
    "weighted_per_decision_is",
]
