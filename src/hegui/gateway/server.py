"""Running the gateway: load settings and policy, start the embedded model when no upstream is
configured, migrate the database, serve on uvicorn."""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Iterator
from typing import Any

import httpx

from hegui.config import Settings


class ServeError(RuntimeError):
    """A clear, user-facing reason why the gateway cannot start."""


def load_policy_for(settings: Settings):  # type: ignore[no-untyped-def]
    from hegui.policy import default_policy, load_policy

    return load_policy(settings.policy_path) if settings.policy_path else default_policy()


def wait_ready(url: str, timeout: float, handle: Any = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if handle is not None and getattr(handle, "poll", lambda: None)() is not None:
            raise ServeError(f"the local model process exited with code {handle.poll()} before it was ready")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise ServeError(f"{url} did not become ready within {timeout:.0f} s (last: {last})")


@contextlib.contextmanager
def local_upstream(settings: Settings, ready_timeout: float = 600.0) -> Iterator[str]:
    """Start the embedded model as the upstream; yields its base URL; stops it afterwards."""
    try:
        mod = importlib.import_module("hegui.gateway.local_model")
    except ModuleNotFoundError as exc:
        if exc.name != "hegui.gateway.local_model":
            raise ServeError(f"the embedded local model needs a package that is missing: {exc.name}") from exc
        raise ServeError(
            "no upstream configured (set HEGUI_UPSTREAM_URL or upstream_url) and the embedded local model "
            "(hegui.gateway.local_model) is not available"
        ) from exc
    host, port = settings.local_model_host, settings.local_model_port
    handle = mod.start_local_model(host, port)
    base = f"http://{host}:{port}/v1"
    try:
        wait_ready(base + "/models", ready_timeout, handle)
        yield base
    finally:
        for name in ("terminate", "stop", "close"):
            fn = getattr(handle, name, None)
            if callable(fn):
                fn()
                break
        wait = getattr(handle, "wait", None)
        if callable(wait):
            with contextlib.suppress(Exception):
                wait(timeout=10)


def serve(settings: Settings, log_level: str = "info") -> None:
    import uvicorn

    from hegui.gateway.app import create_app

    policy = load_policy_for(settings)
    with contextlib.ExitStack() as stack:
        if not settings.upstream_url:
            settings = settings.model_copy(
                update={"upstream_url": stack.enter_context(local_upstream(settings))}
            )
        app = create_app(settings, policy)
        uvicorn.run(app, log_level=log_level, **uvicorn_options(settings))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``serve`` runs uvicorn (also what tests start the gateway with)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "timeout_keep_alive": settings.client_keepalive_s,
        # who may set the client address is the gateway's setting (trust_forwarded_for), not
        # uvicorn's: its default believes X-Forwarded-For from 127.0.0.1, so any local client could
        # write an address of its choice into the audit log
        "proxy_headers": False,
    }
