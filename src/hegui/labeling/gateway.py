"""The hook the gateway calls on every text answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hegui.labeling.explicit import text_label
from hegui.labeling.implicit import ImplicitLabel

if TYPE_CHECKING:  # imported lazily: the policy package imports the moderation engine
    from hegui.policy.model import LabelPolicy

log = logging.getLogger(__name__)
_warned = False


def label_text_response(text: str, labels: LabelPolicy, produce_id: str) -> tuple[str, dict[str, Any]]:
    """(text with the explicit notice if the policy wants one, ``{"AIGC": {...}}`` or ``{}``).

    The implicit label needs ``labels.content_producer`` (the 27-character provider code);
    it is validated here, so a malformed code fails loudly. An *empty* code (the default
    policy) yields ``{}`` with a single warning instead of breaking every response."""
    global _warned
    out = text_label(text, labels.explicit_text, labels.position) if labels.explicit else text
    if not labels.implicit:
        return out, {}
    if not labels.content_producer:
        if not _warned:
            log.warning("labels.implicit is on but labels.content_producer is empty: no implicit label added")
            _warned = True
        return out, {}
    lab = ImplicitLabel.for_producer(labels.content_producer, produce_id)
    return out, {"AIGC": lab.fields()}
