"""Runtime settings: one object built from an optional YAML file and ``HEGUI_*`` environment variables.

Precedence (strongest first): explicit keyword overrides, environment, YAML file, defaults. The file
is found through ``HEGUI_CONFIG`` unless a path is given. The object is passed down explicitly
(no module-level singletons), so tests and several apps in one process never share state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "HEGUI_"
DEFAULT_DATABASE_URL = "sqlite:///./var/hegui.db"


def cache_home(part: str) -> Path:
    """Where Hegui keeps derived files it can rebuild (converted models, normalization tables):
    ``$HEGUI_HOME/<part>``, else ``$XDG_CACHE_HOME/hegui/<part>`` or ``~/.cache/hegui/<part>``."""
    if os.environ.get("HEGUI_HOME"):
        return Path(os.environ["HEGUI_HOME"]).expanduser() / part
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root).expanduser() / "hegui" / part


class SettingsError(ValueError):
    """A settings file or variable is wrong; the message names it."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # storage
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None  # shared counters across replicas; SQL counters when unset
    redis_prefix: str = "hegui:"
    auto_migrate: bool = True  # run Alembic migrations when the gateway starts

    # upstream (any OpenAI-compatible server); unset = start the embedded local model
    upstream_url: str | None = None  # base URL including /v1, e.g. http://127.0.0.1:8000/v1
    upstream_api_key: str | None = None
    upstream_connect_timeout_s: float = Field(5.0, gt=0)
    upstream_read_timeout_s: float = Field(120.0, gt=0)
    upstream_retries: int = Field(2, ge=0, le=10)
    upstream_backoff_s: float = Field(0.2, ge=0)
    upstream_max_connections: int = Field(200, ge=1)
    # An idle pooled connection is dropped after this long. It must be SHORTER than the upstream
    # server's own keep-alive time-out (uvicorn, so vLLM: 5 s; Node: 5 s; nginx: 75 s): otherwise
    # the server closes the connection just as the gateway reuses it, and that request fails with a
    # 502 that may not be retried (it is a POST). Measured: 7 such 502s in 2,000 streamed requests
    # of benchmarks/bench_gateway.py with 5 s on both sides.
    upstream_keepalive_s: float = Field(4.0, gt=0)
    # how upstream requests go out: "aiohttp" (httpx over aiohttp's HTTP/1.1 client, about half the
    # CPU per request; see hegui.gateway.transport) or "httpx" (httpx's own transport; HTTP/2 etc.)
    upstream_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    # client-facing model name -> upstream model name; empty = pass names through
    model_map: dict[str, str] = Field(default_factory=dict)
    local_model_host: str = "127.0.0.1"
    local_model_port: int = Field(8091, ge=1, le=65535)

    # policy
    policy_path: str | None = None  # None = the shipped default policy

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # How long an idle client connection stays open. LONGER than clients keep theirs pooled
    # (httpx, so the openai package: 5 s) and than a load balancer's idle time-out (60 s is
    # common): then the client always closes first. With uvicorn's default of 5 s on both sides,
    # a request sent on a connection the server was closing at that moment failed (ReadError).
    client_keepalive_s: float = Field(75.0, gt=0)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    default_rpm: int = Field(600, ge=0)  # per API key and minute; 0 = unlimited; keys may override
    stream_mode: Literal["buffer", "audit_only"] = "buffer"  # buffer = nothing unscanned is sent
    stream_usage: bool = True  # ask the upstream for token usage on streams (for the audit log)
    identity_cache_s: float = Field(2.0, ge=0)  # how long a key lookup is trusted (revocation delay)
    trust_forwarded_for: bool = False  # take the client address from X-Forwarded-For (behind a proxy)

    # audit
    audit_hmac_key: str | None = None  # keyed hash of content in the audit log (plain SHA-256 if unset)
    audit_queue_max: int = Field(10_000, ge=10)  # records waiting for the database before 503s
    # how long the audit writer waits to gather a batch: one commit per ~50 ms instead of one per
    # request (-0.4 ms of CPU per request at low load); flush() and a full batch cut it short
    audit_linger_s: float = Field(0.05, ge=0, le=5)

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if not v.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        if v.startswith("postgresql://"):
            # psycopg 3 is the driver we ship
            v = "postgresql+psycopg://" + v[len("postgresql://") :]
        return v

    @field_validator("upstream_url")
    @classmethod
    def _upstream(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        assert v is not None
        if not v.startswith(("http://", "https://")):
            raise ValueError("upstream_url must start with http:// or https://")
        return v.rstrip("/")


def _parse_env_value(name: str, raw: str) -> Any:
    field = Settings.model_fields[name]
    if name == "model_map":
        raw = raw.strip()
        if raw.startswith("{"):
            return json.loads(raw)
        # "gpt-4o=qwen2.5,small=gemma" is easier to type in a shell than JSON
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in raw.split(","))):
            if "=" not in part:
                raise SettingsError(f"{ENV_PREFIX}MODEL_MAP entry {part!r} must look like name=upstream_name")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
        return out
    if field.annotation in (str | None,) and raw == "":
        return None
    return raw


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from ``path`` (or ``$HEGUI_CONFIG``), then ``HEGUI_*`` variables, then ``overrides``."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = path or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise SettingsError(f"settings file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"settings file {p} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise SettingsError(f"settings file {p} must hold a mapping of settings")
        data.update(loaded)
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in env:
            try:
                data[name] = _parse_env_value(name, env[key])
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{key} is not valid JSON: {exc}") from exc
    # the policy path is commonly given as HEGUI_POLICY
    if "policy_path" not in data and env.get(f"{ENV_PREFIX}POLICY"):
        data["policy_path"] = env[f"{ENV_PREFIX}POLICY"]
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(f"invalid settings: {validation_problems(exc)}") from exc


def validation_problems(exc: ValidationError) -> str:
    """One line naming each invalid field and why, for settings errors shown to operators."""
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
    )
