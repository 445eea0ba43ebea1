"""Governance console (Interim Measures Arts. 11, 14, 15; PIPL Arts. 44-47): public complaint, status
and personal-information request pages, and an operator side for complaints, PI requests, incident
review, user enforcement, lexicons and dashboards. Served by ``hegui serve`` under ``/console`` in the
gateway's own process and database. See docs/console.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hegui.console.web import Console


def install(app: FastAPI, settings: Any = None) -> Console:
    """Mount the console into a gateway app built by ``hegui.gateway.create_app``."""
    from hegui.console.web import install as _install

    return _install(app, settings)


__all__ = ["install"]
