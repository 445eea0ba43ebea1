"""label → detect → propagate on whole files, batches, the CLI and the gateway hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import hegui.moderation  # noqa: F401  (works around a policy<->moderation import cycle elsewhere)
from hegui.labeling import (
    ImplicitLabel,
    LabelError,
    detect_file,
    label_file,
    label_text_response,
    propagate_file,
    run_batch,
)
from hegui.labeling.cli import register
from hegui.labeling.explicit import audio_mark_length

from .formats_cases import CASES
from .media import PLATFORM, PRODUCER, write_audio, write_image, write_video

EXPLICIT_CASES = [
    "png",
    "jpeg",
    "webp-lossy",
    "webp-lossless",
    "wav",
    "flac",
    "ogg",
    "mp3",
    "mp4",
    "mkv",
    "markdown",
    "text",
]


@pytest.mark.parametrize("case", EXPLICIT_CASES)
def test_label_detect_with_explicit_mark(case: str, tmp_path: Path) -> None:
    name, make, _ = CASES[case]
    src = make(tmp_path / name)
    before = detect_file(src)
    assert before.implicit is None and not before.explicit and before.verdict is None and before.error is None

    lab = ImplicitLabel.for_producer(PRODUCER, "c-1")
    r = label_file(src, lab, out_dir=tmp_path / "out")
    assert r.explicit == "added"
    out = Path(r.output)
    d = detect_file(out)
    assert d.error is None, d.error
    assert d.implicit == lab.fields() and d.implicit_valid and d.explicit and d.verdict == "1"
    assert d.notice == "该内容为人工智能生成"

    # a second labeling: new implicit label replaces the old, the mark is not added twice
    size_before = out.stat().st_size
    lab2 = ImplicitLabel.for_producer(PRODUCER, "c-2")
    r2 = label_file(out, lab2)
    assert r2.explicit == "already-present"
    assert detect_file(out).implicit == lab2.fields()
    assert out.read_bytes().count(b"c-1") == 0
    assert abs(out.stat().st_size - size_before) < 64


@pytest.mark.parametrize("fmt, name", [("WAV", "a.wav"), ("FLAC", "a.flac")])
def test_audio_content_unchanged_after_the_cue(fmt: str, name: str, tmp_path: Path) -> None:
    import soundfile as sf

    src = write_audio(tmp_path / name, fmt)
    orig, sr = sf.read(str(src), dtype="int16")
    r = label_file(src, ImplicitLabel.for_producer(PRODUCER), out_dir=tmp_path / "o")
    got, sr2 = sf.read(r.output, dtype="int16")
    n = audio_mark_length(sr)
    assert sr2 == sr and len(got) == len(orig) + n
    assert np.array_equal(got[n:], orig)
    assert sf.info(r.output).subtype == sf.info(str(src)).subtype


def test_image_unchanged_outside_the_mark(tmp_path: Path) -> None:
    from PIL import Image

    from hegui.labeling.explicit import mark_geometry

    src = write_image(tmp_path / "a.png", "PNG", 500, 400)
    r = label_file(src, ImplicitLabel.for_producer(PRODUCER), out_dir=tmp_path / "o")
    a = np.asarray(Image.open(src).convert("RGB")).copy()
    b = np.asarray(Image.open(r.output).convert("RGB")).copy()
    g = mark_geometry(500, 400)
    a[g.y : g.y + g.height, g.x : g.x + g.width] = 0
    b[g.y : g.y + g.height, g.x : g.x + g.width] = 0
    assert np.array_equal(a, b)


def test_no_explicit_keeps_bytes_of_media(tmp_path: Path) -> None:
    src = write_image(tmp_path / "a.jpg", "JPEG")
    r = label_file(src, ImplicitLabel.for_producer(PRODUCER), explicit=False, out_dir=tmp_path / "o")
    assert r.explicit == "not-requested"
    assert Path(r.output).read_bytes().endswith(src.read_bytes()[-5000:])
    d = detect_file(r.output)
    assert d.implicit_valid and not d.explicit and d.verdict == "1"


def test_docx_gets_a_notice_paragraph(tmp_path: Path) -> None:
    import zipfile

    from hegui.labeling.formats.ooxml import docx_text

    name, make, _ = CASES["docx"]
    src = make(tmp_path / name)
    r = label_file(src, ImplicitLabel.for_producer(PRODUCER), out_dir=tmp_path / "o", position="start")
    assert r.explicit == "added"
    assert docx_text(Path(r.output)).splitlines() == ["本内容由人工智能生成", "你好，世界"]
    d = detect_file(r.output)
    assert d.explicit and d.verdict == "1"
    with zipfile.ZipFile(r.output) as z:
        xml = z.read("word/document.xml").decode()
    assert "<w:body>" in xml and 'xmlns:w14="' in xml  # prefixes (even Ignorable-only ones) kept
    assert label_file(r.output, ImplicitLabel.for_producer(PRODUCER)).explicit == "already-present"

    end = label_file(src, ImplicitLabel.for_producer(PRODUCER), out_dir=tmp_path / "e", position="end")
    assert docx_text(Path(end.output)).splitlines() == ["你好，世界", "本内容由人工智能生成"]
    with zipfile.ZipFile(end.output) as z:
        xml = z.read("word/document.xml").decode()
    assert xml.index("本内容由人工智能生成") < xml.index("<w:sectPr") < xml.index("</w:body>")


@pytest.mark.parametrize("case", ["xlsx", "pdf"])
def test_other_documents_get_the_implicit_label_only(case: str, tmp_path: Path) -> None:
    name, make, _ = CASES[case]
    r = label_file(make(tmp_path / name), ImplicitLabel.for_producer(PRODUCER), out_dir=tmp_path / "o")
    assert r.explicit == "unsupported" and detect_file(r.output).verdict == "1"


def test_platform_verdicts_and_propagation(tmp_path: Path) -> None:
    # 1: implicit label present → keep "1", write ourselves as propagator, producer untouched
    a = write_image(tmp_path / "a.png", "PNG")
    lab = ImplicitLabel.for_producer(PRODUCER, "orig")
    label_file(a, lab, explicit=False)
    p = propagate_file(a, PLATFORM, declared=False, propagate_id="plat-1")
    assert p.verdict == "1" and p.label is not None
    got = detect_file(a).implicit
    assert got is not None
    assert got["ContentProducer"] == PRODUCER and got["ProduceID"] == "orig"
    assert got["ContentPropagator"] == PLATFORM and got["PropagateID"] == "plat-1"

    # 2: nothing in the file, but the uploader declares it → "possibly"
    b = write_image(tmp_path / "b.png", "PNG")
    assert detect_file(b, declared=True).verdict == "2"
    p = propagate_file(b, PLATFORM, declared=True)
    assert p.verdict == "2" and detect_file(b).implicit["Label"] == "2"  # type: ignore[index]
    assert detect_file(b).implicit["ContentProducer"] == ""  # type: ignore[index]

    # 3: no metadata, no declaration, but our explicit mark is visible → "suspected"
    c = write_image(tmp_path / "c.png", "PNG")
    label_file(c, lab, explicit=True)
    from PIL import Image

    Image.open(c).convert("RGB").save(tmp_path / "stripped.png")  # re-saving drops the XMP
    s = tmp_path / "stripped.png"
    d = detect_file(s)
    assert d.implicit is None and d.explicit and d.verdict == "3"
    assert propagate_file(s, PLATFORM, declared=False).verdict == "3"
    assert detect_file(s).implicit["Label"] == "3"  # type: ignore[index]

    # none: nothing anywhere → nothing written
    e = write_image(tmp_path / "e.png", "PNG")
    raw = e.read_bytes()
    assert propagate_file(e, PLATFORM, declared=False).verdict is None
    assert e.read_bytes() == raw

    with pytest.raises(ValueError, match="27 characters"):
        propagate_file(a, "bad", declared=False)


def test_corrupt_label_reported_in_detection(tmp_path: Path) -> None:
    from hegui.labeling.formats.wav import WAVHandler
    from hegui.labeling.formats.webp import riff_build, riff_chunks

    w = write_audio(tmp_path / "a.wav", "WAV")
    parts = riff_chunks(w.read_bytes(), w, b"WAVE") + [(b"AIGC", b'{"Label":"9"}')]
    w.write_bytes(riff_build(b"WAVE", parts))
    d = detect_file(w)
    assert d.implicit is None and d.error is None and any("invalid AIGC" in p for p in d.implicit_problems)
    # labeling overwrites the broken label
    WAVHandler().write(w, w, ImplicitLabel.for_producer(PRODUCER))
    assert detect_file(w).implicit_valid


def test_batch_skips_bad_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_image(folder / "a.png", "PNG")
    write_audio(folder / "sub" / "b.wav", "WAV")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    (folder / "notes.bin").write_bytes(b"???")
    (folder / ".hidden.png").write_bytes(b"x")
    res = run_batch(
        [folder],
        lambda f: label_file(f, ImplicitLabel.for_producer(PRODUCER), out_dir=tmp_path / "o"),
        progress=False,
    )
    by = {Path(r.path).name: r for r in res}
    assert set(by) == {"a.png", "b.wav", "broken.jpg", "notes.bin"}
    assert by["a.png"].ok and by["b.wav"].ok
    assert not by["broken.jpg"].ok and "JPEG" in (by["broken.jpg"].error or "")
    assert not by["notes.bin"].ok and "unsupported" in (by["notes.bin"].error or "")


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_cli_label_detect_propagate(tmp_path: Path) -> None:
    runner = CliRunner()
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", "PNG")
    write_video(src / "v.mp4", seconds=2.5)
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out"
    r = runner.invoke(_app(), ["label", str(src), "--producer", PRODUCER, "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    items = {Path(i["path"]).name: i for i in json.loads(r.output)}
    assert items["a.png"]["ok"] and items["v.mp4"]["ok"] and not items["bad.png"]["ok"]

    r = runner.invoke(_app(), ["detect", str(out), "--json"])
    assert r.exit_code == 0, r.output
    det = {Path(i["path"]).name: i["result"] for i in json.loads(r.output)}
    assert det["a.png"]["verdict"] == "1" and det["v.mp4"]["explicit"] and det["v.mp4"]["implicit_valid"]

    r = runner.invoke(_app(), ["detect", str(out)])
    assert r.exit_code == 0 and "2 ok" in r.output

    r = runner.invoke(
        _app(), ["propagate", str(out / "a.png"), "--platform", PLATFORM, "--not-declared", "--json"]
    )
    assert r.exit_code == 0 and json.loads(r.output)["label"]["ContentPropagator"] == PLATFORM

    r = runner.invoke(_app(), ["label", str(src), "--producer", "0011BAD"])
    assert r.exit_code == 2 and "27 characters" in r.output
    r = runner.invoke(_app(), ["propagate", str(src / "bad.png"), "--platform", PLATFORM])
    assert r.exit_code == 2 and "PNG" in r.output


def test_gateway_hook() -> None:
    from hegui.policy.model import LabelPolicy

    pol = LabelPolicy(content_producer=PRODUCER)
    text, implicit = label_text_response("答案如下。", pol, "req-1")
    assert text.endswith(pol.explicit_text) and text.startswith("答案如下。")
    assert implicit["AIGC"]["ContentProducer"] == PRODUCER and implicit["AIGC"]["ProduceID"] == "req-1"
    text, implicit = label_text_response("答案", LabelPolicy(explicit=False), "r")
    assert text == "答案" and implicit == {}
    with pytest.raises(ValueError, match="checksum"):
        label_text_response("x", LabelPolicy(content_producer="0011" + "91110108MA01KP2T5X" + "00000"), "r")
    with pytest.raises(ValueError, match="printable"):
        label_text_response("x", pol, "has space")


def test_label_error_names_file(tmp_path: Path) -> None:
    p = tmp_path / "t.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 5)
    with pytest.raises(LabelError) as ei:
        label_file(p, ImplicitLabel.for_producer(PRODUCER))
    assert ei.value.path == str(p) and "PNG" in ei.value.problem


def test_label_bytes_for_gateway_media(tmp_path: Path) -> None:
    import io

    from PIL import Image

    from hegui.labeling import label_bytes
    from hegui.labeling.explicit import detect_image_mark

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (30, 60, 90)).save(buf, "PNG")
    out = label_bytes(buf.getvalue(), ".png", ImplicitLabel.for_producer(PRODUCER, "g-1"))
    p = tmp_path / "x.png"
    p.write_bytes(out)
    assert detect_file(p).implicit["ProduceID"] == "g-1"  # type: ignore[index]
    assert detect_image_mark(Image.open(io.BytesIO(out))).found
