from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hegui.labeling.implicit import (
    ImplicitLabel,
    LabelError,
    make_provider_code,
    parse_label,
    uscc_check_char,
    validate_provider_code,
    validate_uscc,
)

from .media import PLATFORM, PRODUCER, USCC


def test_uscc_checksum_matches_a_published_code() -> None:
    # the organisation part of a producer code seen in labeled images in the wild
    assert uscc_check_char("91110108MA01KP2T5") == "U"
    validate_uscc("91110108MA01KP2T5U")
    assert USCC == "91110108MA01KP2T5U"


@pytest.mark.parametrize(
    "code, problem",
    [
        ("91110108MA01KP2T5X", "checksum"),
        ("91110108MA01KP2T5", "18 characters"),
        ("9111ABCDMA01KP2T5U", "region"),
        ("91110108MA01KP2T5I", "checksum"),
        ("91110108MA0IKP2T5U", "not allowed"),
    ],
)
def test_uscc_rejects(code: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_uscc(code)


def test_provider_codes() -> None:
    validate_provider_code(PRODUCER)
    validate_provider_code(PLATFORM)
    assert len(PRODUCER) == 27 and PRODUCER.startswith("0011")
    assert make_provider_code(USCC) == "0011" + USCC + "00000"
    for bad, msg in [
        (PRODUCER[:-1], "27 characters"),
        ("01" + PRODUCER[2:], "start with '00'"),
        (PRODUCER[:22] + "30001", "service extension"),
        (PRODUCER[:22] + "1ab#1", "service extension"),
        ("0011" + "91110108MA01KP2T5X" + "00000", "checksum"),
    ]:
        with pytest.raises(ValueError, match=msg):
            validate_provider_code(bad)


def test_json_both_forms_round_trip() -> None:
    lab = ImplicitLabel.for_producer(PRODUCER, "abc-123")
    wrapped = lab.to_json()
    bare = lab.to_json(wrapped=False)
    assert json.loads(wrapped) == {"AIGC": json.loads(bare)}
    assert list(json.loads(bare)) == [
        "Label",
        "ContentProducer",
        "ProduceID",
        "ReservedCode1",
        "ContentPropagator",
        "PropagateID",
        "ReservedCode2",
    ]
    assert " " not in wrapped
    assert parse_label(wrapped) == lab == parse_label(bare) == parse_label(bare.encode())
    assert lab.content_propagator == PRODUCER and lab.propagate_id == "abc-123"
    assert lab.problems() == []


@pytest.mark.parametrize("value", ["has space", 'q"uote', "back\\slash", "中文", "tab\t", ""])
def test_value_charset(value: str) -> None:
    if value == "":
        assert ImplicitLabel(ProduceID=value).produce_id == ""
        return
    with pytest.raises(ValueError, match="printable ASCII"):
        ImplicitLabel(ProduceID=value)


@pytest.mark.parametrize(
    "raw, msg",
    [
        ("not json", "not JSON"),
        ("[1,2]", "not a JSON object"),
        ('{"AIGC":{"Label":"4"}}', "invalid AIGC label"),
        ('{"Label":"1","Extra":"x"}', "unknown keys"),
        ('{"Label":1}', "must be strings"),
        ('{"ProduceID":"a b"}', "printable ASCII"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_parse_errors_are_label_errors(raw: str | bytes, msg: str) -> None:
    with pytest.raises(LabelError, match=msg) as ei:
        parse_label(raw, "f.png")
    assert ei.value.path == "f.png"


def test_bad_codes_are_reported_not_fatal_when_read() -> None:
    lab = parse_label('{"Label":"1","ContentProducer":"ACME"}')
    assert any("27 characters" in p for p in lab.problems())


_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'), max_size=40
)


@given(
    label=st.sampled_from(["1", "2", "3"]),
    vals=st.lists(_value, min_size=6, max_size=6),
    wrapped=st.booleans(),
)
def test_any_valid_label_round_trips(label: str, vals: list[str], wrapped: bool) -> None:
    lab = ImplicitLabel(
        Label=label,
        ContentProducer=vals[0],
        ProduceID=vals[1],
        ReservedCode1=vals[2],
        ContentPropagator=vals[3],
        PropagateID=vals[4],
        ReservedCode2=vals[5],
    )
    assert parse_label(lab.to_json(wrapped=wrapped)) == lab


@given(st.text(max_size=200))
def test_parse_never_crashes(raw: str) -> None:
    with contextlib.suppress(LabelError):
        parse_label(raw)
