"""OpenAI-style errors: ``{"error": {"message", "type", "param", "code"}}`` with the matching status."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.outcome = outcome

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self, extra_headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers={**self.headers, **(extra_headers or {})}
        )


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> GatewayError:
    return GatewayError(400, message, code=code, param=param)


def unavailable(
    message: str = "storage is unavailable; the gateway refuses to serve unaudited requests",
) -> GatewayError:
    return GatewayError(
        503, message, type="service_unavailable", code="store_unavailable", outcome="store_unavailable"
    )


def upstream_error(status: int, message: str, code: str = "upstream_error") -> GatewayError:
    return GatewayError(status, message, type="upstream_error", code=code, outcome="upstream_error")
