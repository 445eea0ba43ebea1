"""Step 5: the model name. With a model map, clients see only the mapped names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hegui.gateway.errors import GatewayError

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


async def resolve(gw: Gateway, ctx: RequestContext) -> Response | None:
    model = ctx.body.get("model")
    ctx.model = model
    mapping = gw.settings.model_map
    if mapping:
        if model not in mapping:
            raise GatewayError(
                404,
                f"the model {model!r} does not exist; available: {', '.join(sorted(mapping))}",
                code="model_not_found",
                param="model",
                outcome="bad_request",
            )
        ctx.upstream_model = mapping[model]
    else:
        ctx.upstream_model = model
    return None
