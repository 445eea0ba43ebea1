"""Console settings: handling deadlines, upload limits, anti-spam and login rules.

Read from ``HEGUI_CONSOLE_*`` environment variables (or a YAML file named by ``HEGUI_CONSOLE_CONFIG``);
kept apart from the gateway's ``Settings`` so the gateway's strict settings file is untouched. The
deadlines are what the public pages publish, so they come from one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hegui.config import validation_problems

ENV_PREFIX = "HEGUI_CONSOLE_"


class ConsoleSettingsError(ValueError):
    pass


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # published handling process (Interim Measures Art. 15; PIPL Art. 50 for PI requests)
    complaint_ack_working_days: int = Field(1, ge=0, le=30)
    complaint_resolve_working_days: int = Field(15, ge=1, le=90)
    pi_request_working_days: int = Field(15, ge=1, le=90)
    incident_review_hours: float = Field(24.0, gt=0)
    # evidence uploads: small, and only types a reviewer can open safely
    max_upload_bytes: int = Field(512 * 1024, ge=1024)
    allowed_upload_types: list[str] = Field(
        default_factory=lambda: ["image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain"]
    )
    max_description_chars: int = Field(5000, ge=100)
    # anti-spam: submissions per client address and hour (0 = unlimited), and the arithmetic challenge
    submissions_per_hour: int = Field(20, ge=0)
    challenge_ttl_s: int = Field(1800, ge=30)
    # operators
    lockout_threshold: int = Field(5, ge=1)
    lockout_minutes: float = Field(15.0, gt=0)
    session_hours: float = Field(8.0, gt=0)
    # "auto": Secure cookies when the request came over https (or X-Forwarded-Proto: https)
    secure_cookies: bool | None = None
    default_language: str = Field("zh", pattern="^(zh|en)$")
    # signing key for CSRF tokens and challenges; unset = one generated and kept in the database,
    # so replicas sharing the database agree
    secret: str | None = None
    # where activated lexicon uploads are written for the moderation engine to load
    data_dir: str = "./var/console"


def load_console_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> ConsoleSettings:
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = env.get(ENV_PREFIX + "CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConsoleSettingsError(f"console settings file {p} does not exist")
        loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConsoleSettingsError(f"console settings file {p} must hold a mapping")
        data.update(loaded)
    for name, field in ConsoleSettings.model_fields.items():
        key = ENV_PREFIX + name.upper()
        if key in env and name != "config":
            raw = env[key]
            if field.annotation == list[str]:
                data[name] = [x.strip() for x in raw.split(",") if x.strip()]
            elif name == "secure_cookies" and raw.lower() in ("", "auto"):
                data[name] = None
            else:
                data[name] = raw
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ConsoleSettings.model_validate(data)
    except ValidationError as exc:
        raise ConsoleSettingsError(f"invalid console settings: {validation_problems(exc)}") from exc
