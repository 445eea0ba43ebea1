"""The aiohttp sender's line splitter: SSE line ends (CRLF, CR, LF) wherever chunks are cut."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from hegui.gateway.transport import split_lines


async def _chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    last = 0
    for c in sorted(set(cuts)):
        yield data[last:c]
        last = c
    yield data[last:]


def _split(data: bytes, cuts: list[int]) -> list[str]:
    async def run() -> list[str]:
        return [line async for line in split_lines(_chunks(data, cuts))]

    return asyncio.run(run())


def test_line_ends_and_cuts() -> None:
    data = "data: 你好\r\n\r\ndata: a\u2028b\rdata: c\n\n: ping\ndata: 尾".encode()
    want = ["data: 你好", "", "data: a\u2028b", "data: c", "", ": ping", "data: 尾"]
    assert _split(data, []) == want
    # every single cut, including inside a CRLF and inside a multi-byte character
    for i in range(len(data) + 1):
        assert _split(data, [i]) == want, i


def test_trailing_line_end_adds_no_empty_line() -> None:
    assert _split(b"a\r\nb\r\n", [4]) == ["a", "b"]
    assert _split(b"a\r", []) == ["a"]
    assert _split(b"", []) == []


@given(
    st.text(alphabet=st.sampled_from(["a", "数", "\u2028", "\r", "\n", " "]), max_size=40),
    st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_same_lines_however_chunked(text: str, cuts: list[int]) -> None:
    data = text.encode()
    want = re.split(r"\r\n|\r|\n", text)
    if want[-1] == "":
        want.pop()
    assert _split(data, [c for c in cuts if c <= len(data)]) == want
