"""Pydantic models of the policy file. Unknown keys are errors: a typo must not pass silently."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from hegui.policy.action import Action
from hegui.taxonomy import is_known_kind, load_taxonomy


def _to_action(v: object) -> Action:
    if isinstance(v, Action):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return Action(v)
    if isinstance(v, str):
        return Action.parse(v)
    raise ValueError("action must be one of allow, flag, mask, refuse, block")


# An action written as a word in YAML/JSON, compared as an ordered enum in code.
ActionField = Annotated[Action, BeforeValidator(_to_action), PlainSerializer(str, return_type=str)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskRule(_Strict):
    """What findings of one risk do. Findings below ``min_severity`` or ``min_score`` get
    ``low_action`` instead (default: flag them, so they stay visible in audits)."""

    action: ActionField = Action.REFUSE
    min_severity: int = Field(1, ge=1, le=3)
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    low_action: ActionField = Action.FLAG


class LexiconConfig(_Strict):
    enabled: bool = True
    # ``builtin:seed`` is the shipped seed lexicon; other entries are file paths (TSV/CSV/YAML).
    paths: list[str] = Field(default_factory=lambda: ["builtin:seed"])
    pinyin: bool = True  # match full pinyin and initials typed in Latin letters
    homophones: bool = True  # match same-sound substitutions
    split_chars: bool = True  # recombine split characters (氵去 -> 法)
    homophone_min_chars: int = Field(3, ge=2)  # shorter terms only match exactly: fewer false hits


class PIIConfig(_Strict):
    enabled: bool = True
    # empty = all recognizers
    types: list[str] = Field(default_factory=list)
    mask_char: str = "*"


class RuleConfig(_Strict):
    name: str
    pattern: str
    risk: str
    severity: int = Field(2, ge=1, le=3)
    normalized: bool = True  # run on normalized text (True) or the original (False)

    @field_validator("risk")
    @classmethod
    def _known(cls, v: str) -> str:
        if not is_known_kind(v):
            raise ValueError(f"unknown risk code {v!r}")
        return v


class RulesConfig(_Strict):
    enabled: bool = True
    rules: list[RuleConfig] = Field(default_factory=list)


class InjectionConfig(_Strict):
    enabled: bool = True
    # where to look: injection heuristics make sense on prompts, not on model output
    on_output: bool = False


class ClassifierConfig(_Strict):
    enabled: bool = False
    model: str = "builtin:default"
    # per-risk probability thresholds; risks not listed use ``threshold``
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    thresholds: dict[str, float] = Field(default_factory=dict)


class LLMJudgeConfig(_Strict):
    enabled: bool = False
    endpoint: str = ""
    model: str = ""
    api_key_env: str = "HEGUI_JUDGE_API_KEY"
    family: Literal["qwen3guard", "llamaguard", "general"] = "general"
    strict: bool = True  # treat "controversial" as unsafe
    timeout_s: float = 10.0
    fail: Literal["open", "closed"] = "closed"
    cache_size: int = 10_000
    # added for the judge backend (hegui.classify.judge):
    retries: int = Field(2, ge=0, le=10)  # extra attempts after a malformed answer or a failure
    max_tokens: int = Field(512, ge=16)
    # the finding a fail-closed judge reports when it cannot answer: the policy's rule for this
    # risk decides what happens (A1.h is blocked by the default policy)
    fail_risk: str = "A1.h"
    # override/extend the built-in guard-category -> risk-code mapping, e.g. {"S6": ["A5.a"]}
    category_map: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("fail_risk")
    @classmethod
    def _known_fail_risk(cls, v: str) -> str:
        if not is_known_kind(v):
            raise ValueError(f"unknown risk code {v!r}")
        return v

    @field_validator("category_map")
    @classmethod
    def _known_mapped(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for cat, codes in v.items():
            for code in codes:
                if not is_known_kind(code):
                    raise ValueError(f"category {cat!r}: unknown risk code {code!r}")
        return v


class DetectorsConfig(_Strict):
    lexicon: LexiconConfig = Field(default_factory=LexiconConfig)
    pii: PIIConfig = Field(default_factory=PIIConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    injection: InjectionConfig = Field(default_factory=InjectionConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    llm_judge: LLMJudgeConfig = Field(default_factory=LLMJudgeConfig)


class MinorsPolicy(_Strict):
    daily_requests: int = Field(100, ge=0)
    curfew_start: str = "22:00"  # local time, HH:MM
    curfew_end: str = "06:00"
    timezone: str = "Asia/Shanghai"
    profile: str = "minors"  # the policy profile applied to minors
    limit_message: str = "根据未成年人模式规定，今日使用已达上限，请明天再来。"
    curfew_message: str = "根据未成年人模式规定，当前为休息时段，暂停服务。"


class EnforcementStep(_Strict):
    action: Literal["warn", "restrict", "suspend", "terminate"]
    incidents: int = Field(ge=1)  # incidents within the window that trigger this step
    window_hours: float = Field(24.0, gt=0)
    duration_hours: float | None = None  # for suspend: how long


class EnforcementPolicy(_Strict):
    enabled: bool = True
    ladder: list[EnforcementStep] = Field(
        default_factory=lambda: [
            EnforcementStep(action="warn", incidents=3, window_hours=24),
            EnforcementStep(action="restrict", incidents=5, window_hours=24),
            EnforcementStep(action="suspend", incidents=10, window_hours=24, duration_hours=72),
            EnforcementStep(action="terminate", incidents=30, window_hours=24 * 30),
        ]
    )
    restricted_rpm: int = 5  # requests per minute for restricted users
    warning_message: str = "您的请求多次触发安全策略，请遵守服务协议。"


class AuditPolicy(_Strict):
    # how user content is kept in the audit log: a safe default that still proves what was scanned
    content: Literal["hash", "keep", "drop"] = "hash"
    retention_days: int = Field(183, ge=183)  # Cybersecurity Law Art. 21: at least 6 months


class LabelPolicy(_Strict):
    explicit: bool = True
    explicit_text: str = "本内容由人工智能生成"
    position: Literal["start", "end"] = "end"
    implicit: bool = True
    content_producer: str = ""  # 27-character provider code


class Policy(_Strict):
    version: int = 1
    name: str = "default"
    default_action: ActionField = Action.REFUSE
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    risks: dict[str, RiskRule] = Field(default_factory=dict)
    refusal_templates: dict[str, str] = Field(
        default_factory=lambda: {"default": "抱歉，我无法提供这方面的内容。"}
    )
    mask_message: str = "[已屏蔽]"
    stream_cut_message: str = "抱歉，后续内容因违反安全规范已被终止。"
    require_verified_identity: bool = False
    minors: MinorsPolicy = Field(default_factory=MinorsPolicy)
    enforcement: EnforcementPolicy = Field(default_factory=EnforcementPolicy)
    audit: AuditPolicy = Field(default_factory=AuditPolicy)
    labels: LabelPolicy = Field(default_factory=LabelPolicy)
    # named overrides (e.g. "minors"): a partial policy merged over this one
    profiles: dict[str, dict[str, object]] = Field(default_factory=dict)

    @field_validator("risks")
    @classmethod
    def _known_risks(cls, v: dict[str, RiskRule]) -> dict[str, RiskRule]:
        classes = {c.code for c in load_taxonomy().classes}
        for code in v:
            if not (is_known_kind(code) or code in classes):
                raise ValueError(
                    f"unknown risk code {code!r} (use A1.a ... A5.b, a class A1 ... A5, or injection)"
                )
        return v

    @model_validator(mode="after")
    def _default_template(self) -> Policy:
        if "default" not in self.refusal_templates:
            raise ValueError("refusal_templates must contain a 'default' entry")
        return self

    def rule_for(self, risk: str) -> RiskRule:
        rule = self.risks.get(risk)
        if rule is None:
            # risk-class entries (``A2``) act as defaults for their members
            rule = self.risks.get(risk.split(".")[0])
        return rule if rule is not None else RiskRule(action=self.default_action)

    def refusal_for(self, risks: list[str]) -> str:
        for code in risks:
            for key in (code, code.split(".")[0]):
                if key in self.refusal_templates:
                    return self.refusal_templates[key]
        return self.refusal_templates["default"]

    def profile(self, name: str) -> Policy:
        """This policy with the named profile merged over it (deep merge of plain data)."""
        if name not in self.profiles:
            raise KeyError(f"policy {self.name!r} has no profile {name!r}")
        merged = _deep_merge(self.model_dump(mode="json"), self.profiles[name])
        merged["name"] = f"{self.name}:{name}"
        return Policy.model_validate(merged)


def _deep_merge(base: dict[str, object], over: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)  # type: ignore[arg-type]
        else:
            out[k] = v
    return out
