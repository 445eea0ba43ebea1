"""Labeling of AI-generated content per GB 45438-2025, and detection for platforms.

Producer side::

    from hegui.labeling import ImplicitLabel, label_file
    label_file("out.png", ImplicitLabel.for_producer(CODE))          # XMP TC260:AIGC + visible mark

Platform side::

    from hegui.labeling import detect_file, propagate_file
    detect_file("upload.mp4").verdict                                 # "1" / "2" / "3" / None
    propagate_file("upload.mp4", platform=OUR_CODE, declared=False)

Gateway::

    text, implicit = label_text_response(text, policy.labels, produce_id)
"""

from hegui.labeling.explicit import (
    FontNotFoundError,
    apply_image_mark,
    detect_audio_mark,
    detect_image_mark,
    html_badge,
    text_label,
)
from hegui.labeling.files import (
    Detection,
    LabelResult,
    PropagationResult,
    detect_file,
    label_bytes,
    label_file,
    propagate_file,
    run_batch,
)
from hegui.labeling.formats import handler_for
from hegui.labeling.gateway import label_text_response
from hegui.labeling.implicit import (
    ImplicitLabel,
    LabelError,
    make_provider_code,
    new_produce_id,
    parse_label,
    validate_provider_code,
    validate_uscc,
)
from hegui.labeling.platform import propagation_verdict

__all__ = [
    "Detection",
    "FontNotFoundError",
    "ImplicitLabel",
    "LabelError",
    "LabelResult",
    "PropagationResult",
    "apply_image_mark",
    "detect_audio_mark",
    "detect_file",
    "detect_image_mark",
    "handler_for",
    "html_badge",
    "label_bytes",
    "label_file",
    "label_text_response",
    "make_provider_code",
    "new_produce_id",
    "parse_label",
    "propagate_file",
    "propagation_verdict",
    "run_batch",
    "text_label",
    "validate_provider_code",
    "validate_uscc",
]
