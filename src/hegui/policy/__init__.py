"""The operator's policy: what each risk triggers, which detectors run, refusal wording.

``load_policy(path)`` validates a YAML file and reports errors with file, line and reason.
``default_policy()`` is the shipped ``data/policies/default.yaml``.
"""

from hegui.policy.action import Action
from hegui.policy.loader import PolicyError, default_policy, load_policy, parse_policy
from hegui.policy.model import (
    AuditPolicy,
    ClassifierConfig,
    DetectorsConfig,
    EnforcementPolicy,
    EnforcementStep,
    InjectionConfig,
    LabelPolicy,
    LexiconConfig,
    LLMJudgeConfig,
    MinorsPolicy,
    PIIConfig,
    Policy,
    RiskRule,
    RuleConfig,
    RulesConfig,
)

__all__ = [
    "Action",
    "AuditPolicy",
    "ClassifierConfig",
    "DetectorsConfig",
    "EnforcementPolicy",
    "EnforcementStep",
    "InjectionConfig",
    "LLMJudgeConfig",
    "LabelPolicy",
    "LexiconConfig",
    "MinorsPolicy",
    "PIIConfig",
    "Policy",
    "PolicyError",
    "RiskRule",
    "RuleConfig",
    "RulesConfig",
    "default_policy",
    "load_policy",
    "parse_policy",
]
