"""One module per pipeline step; ``hegui.gateway.pipeline`` lists them in order.

A step is ``async def step(gw, ctx) -> Response | None``: it reads/updates the RequestContext and
either returns None (go on), returns a finished response (e.g. a refusal), or raises GatewayError.
"""
