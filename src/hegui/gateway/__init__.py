"""The compliance gateway: an OpenAI-compatible proxy enforcing the Interim Measures (Art. 9-15).

``create_app(settings, policy)`` returns the ASGI app; ``hegui serve`` runs it on uvicorn.
The request pipeline is listed in ``hegui.gateway.pipeline``; one module per step in ``steps/``.
"""

from hegui.gateway.app import create_app

__all__ = ["create_app"]
