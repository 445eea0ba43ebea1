"""The platform side (Labeling Measures Art. 6): decide what to tell users about an upload,
then record ourselves as propagator in the file's implicit label.

1. The metadata holds an implicit label → keep its Label (normally "1": AI-generated).
2. No implicit label, but the uploader declares the content AI-generated → "2" (possibly).
3. Neither, but an explicit mark or another generation trace is detected → "3" (suspected).
4. Nothing → no verdict, nothing written.
"""

from __future__ import annotations

from typing import Literal

from hegui.labeling.implicit import ImplicitLabel, new_produce_id, validate_provider_code

Verdict = Literal["1", "2", "3"]

NOTICES: dict[str, str] = {
    "1": "该内容为人工智能生成",
    "2": "该内容可能为人工智能生成",
    "3": "该内容疑似人工智能生成",
}


def propagation_verdict(
    implicit: ImplicitLabel | None, declared: bool, explicit_found: bool, watermark_found: bool = False
) -> Verdict | None:
    if implicit is not None:
        return implicit.label
    if declared:
        return "2"
    if explicit_found or watermark_found:
        return "3"
    return None


def notice_for(verdict: Verdict | None) -> str | None:
    """The prominent notice a platform shows next to the content."""
    return NOTICES.get(verdict) if verdict else None


def propagated_label(
    existing: ImplicitLabel | None, verdict: Verdict, platform: str, propagate_id: str | None = None
) -> ImplicitLabel:
    """The label to write back: producer fields kept, propagator fields replaced by ours.
    A new label (cases 2 and 3) has no producer: the platform does not know one."""
    validate_provider_code(platform)
    pid = propagate_id or new_produce_id()
    if existing is not None:
        # ReservedCode2 held the previous propagator's signature, which no longer applies.
        return existing.model_copy(
            update={"content_propagator": platform, "propagate_id": pid, "reserved_code2": ""}
        )
    return ImplicitLabel(label=verdict, content_propagator=platform, propagate_id=pid)
