"""Label, detect and propagate whole files; batches over folders with bad files skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel

from hegui.labeling import explicit as ex
from hegui.labeling.formats import FormatHandler, handler_for
from hegui.labeling.formats.base import temp_sibling
from hegui.labeling.implicit import ImplicitLabel, LabelError
from hegui.labeling.platform import Verdict, notice_for, propagated_label, propagation_verdict

T = TypeVar("T")


class LabelResult(BaseModel):
    source: str
    output: str
    format: str
    modality: str
    label: dict[str, str]
    explicit: Literal["added", "already-present", "not-requested", "unsupported"]


class Detection(BaseModel):
    path: str
    format: str | None = None
    modality: str | None = None
    implicit: dict[str, str] | None = None
    implicit_valid: bool = False
    implicit_problems: list[str] = []
    explicit: bool = False
    explicit_score: float | None = None
    watermark: bool | None = None
    verdict: Verdict | None = None
    notice: str | None = None
    error: str | None = None


class PropagationResult(BaseModel):
    path: str
    output: str | None
    verdict: Verdict | None
    notice: str | None
    label: dict[str, str] | None


# ---------------------------------------------------------------- explicit marks per modality

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_SF_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}


def _explicit_present(h: FormatHandler, path: Path) -> tuple[bool, float | None]:
    if h.name in _PIL_FORMATS:
        from PIL import Image

        try:
            with Image.open(path) as im:
                m = ex.detect_image_mark(im)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise LabelError(path, f"image unreadable: {exc}") from None
        return m.found, m.score
    if h.name in _SF_FORMATS:
        samples, sr = _read_audio(path)
        return bool(ex.detect_audio_mark(samples, sr)), None
    if h.modality == "video":
        m = ex.detect_video_mark(path)
        return m.found, m.score
    if h.name == "ooxml":
        from hegui.labeling.formats.ooxml import docx_text

        return ex.has_text_label(docx_text(path)), None
    if h.modality == "text":
        from hegui.labeling.formats.text import _text, split_front_matter, strip_trailer

        body, _ = strip_trailer(_text(path))
        if h.name == "markdown":
            _, body = split_front_matter(body)
        return ex.has_text_label(body), None
    return False, None


def _watermark_present(h: FormatHandler, path: Path) -> bool:
    from hegui.labeling.watermark import detect_audio_watermark, detect_image_watermark

    if h.name in _PIL_FORMATS:
        try:
            return detect_image_watermark(path).found
        except (OSError, ValueError) as exc:
            raise LabelError(path, f"image unreadable: {exc}") from None
    if h.name in _SF_FORMATS:
        return detect_audio_watermark(_read_audio(path)[0])[0]
    return False


def _read_audio(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, sf.LibsndfileError, ValueError) as exc:
        raise LabelError(path, f"audio unreadable: {exc}") from None
    return data, int(sr)


def _pil_save_kwargs(h: FormatHandler, src: Path, im: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for k in ("icc_profile", "exif", "dpi"):
        if k in im.info:
            kw[k] = im.info[k]
    if h.name == "jpeg":
        kw.update(quality=95, subsampling=0)
    if h.name == "webp":
        lossless = Path(src).read_bytes()[12:16] == b"VP8L"
        kw.update(lossless=lossless, quality=100 if lossless else 92)
    return kw


def _add_watermark(h: FormatHandler, src: Path, tmp: Path, label: ImplicitLabel) -> bool:
    from hegui.labeling.watermark import embed_audio_watermark, embed_image_watermark

    if h.name in _PIL_FORMATS:
        from PIL import Image

        with Image.open(src) as im:
            im.load()
            embed_image_watermark(im, label.content_producer).save(
                tmp, _PIL_FORMATS[h.name], **_pil_save_kwargs(h, src, im)
            )
        return True
    if h.name in ("wav", "flac"):
        import soundfile as sf

        info = sf.info(str(src))
        data, sr = _read_audio(src)
        sf.write(str(tmp), embed_audio_watermark(data), sr, format=_SF_FORMATS[h.name], subtype=info.subtype)
        return True
    return False


def _add_explicit(
    h: FormatHandler, src: Path, tmp: Path, label: ImplicitLabel, notice: str, position: str
) -> bool:
    """Write ``src`` + visible/audible mark to ``tmp``; False if the format has no explicit mark."""
    if h.name in _PIL_FORMATS:
        from PIL import Image

        with Image.open(src) as im:
            im.load()
            ex.apply_image_mark(im).save(tmp, _PIL_FORMATS[h.name], **_pil_save_kwargs(h, src, im))
        return True
    if h.name in _SF_FORMATS:
        import soundfile as sf

        info = sf.info(str(src))
        data, sr = _read_audio(src)
        marked = ex.add_audio_mark(data, sr, "start")
        sf.write(str(tmp), marked, sr, format=_SF_FORMATS[h.name], subtype=info.subtype)
        return True
    if h.modality == "video":
        ex.label_video(src, tmp, metadata={"AIGC": h.value(label)})
        return True
    if h.name == "ooxml":
        from hegui.labeling.formats.ooxml import add_docx_notice

        return add_docx_notice(src, tmp, notice, "start" if position == "start" else "end")
    if h.modality == "text":
        from hegui.labeling.formats.text import _text, split_front_matter, strip_trailer

        text, _ = strip_trailer(_text(src))
        if h.name == "markdown":
            fm, body = split_front_matter(text)
            body = ex.text_label(body, notice, "start" if position == "start" else "end")
            text = ("---\n" + "\n".join(fm) + "\n---\n" + body) if fm is not None else body
        else:
            text = ex.text_label(text, notice, "start" if position == "start" else "end")
        tmp.write_text(text, encoding="utf-8")
        return True
    return False


def label_file(
    src: str | Path,
    label: ImplicitLabel,
    *,
    explicit: bool = True,
    out_dir: str | Path | None = None,
    notice: str = "本内容由人工智能生成",
    position: str = "end",
    watermark: bool = False,
) -> LabelResult:
    """Write ``label`` (replacing any earlier one) and, if asked, the explicit mark (added once:
    a file that already shows it is not marked twice). ``watermark`` adds the optional invisible
    watermark (images, WAV/FLAC) first. In place unless ``out_dir`` is given."""
    src = Path(src)
    h = handler_for(src)
    dst = Path(out_dir) / src.name if out_dir else src
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    h.read(src)  # a corrupt container is refused before anything is written
    state: Literal["added", "already-present", "not-requested", "unsupported"] = "not-requested"
    base = src
    temps: list[Path] = []
    try:
        if watermark:
            temps.append(temp_sibling(dst))
            if _add_watermark(h, base, temps[-1], label):
                base = temps[-1]
        if explicit:
            present, _ = _explicit_present(h, base)
            if present:
                state = "already-present"
            else:
                temps.append(temp_sibling(dst))
                if _add_explicit(h, base, temps[-1], label, notice, position):
                    state, base = "added", temps[-1]
                else:
                    state = "unsupported"
        h.write(base, dst, label)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
    got = h.read(dst)
    if got != label:
        raise LabelError(dst, "label read back differs from the label written")
    return LabelResult(
        source=str(src),
        output=str(dst),
        format=h.name,
        modality=h.modality,
        label=label.fields(),
        explicit=state,
    )


def detect_file(path: str | Path, declared: bool = False, watermark: bool = False) -> Detection:
    """Everything a platform needs to decide: implicit label, explicit mark, watermark, verdict.
    Errors are reported in ``error`` rather than raised, so batches go on."""
    path = Path(path)
    d = Detection(path=str(path))
    try:
        h = handler_for(path)
        d.format, d.modality = h.name, h.modality
        try:
            lab = h.read(path)
        except LabelError as exc:
            d.implicit_problems = [exc.problem]
            lab = None
        if lab is not None:
            d.implicit = lab.fields()
            d.implicit_problems = lab.problems()
            d.implicit_valid = not d.implicit_problems
        d.explicit, d.explicit_score = _explicit_present(h, path)
        if watermark and (h.name in _PIL_FORMATS or h.name in _SF_FORMATS):
            d.watermark = _watermark_present(h, path)
        d.verdict = propagation_verdict(lab, declared, d.explicit, bool(d.watermark))
        d.notice = notice_for(d.verdict)
    except LabelError as exc:
        d.error = exc.problem
    return d


def propagate_file(
    path: str | Path,
    platform: str,
    declared: bool,
    out_dir: str | Path | None = None,
    propagate_id: str | None = None,
) -> PropagationResult:
    """Platform side: verdict per Art. 6, then our propagator fields written into the file."""
    path = Path(path)
    h = handler_for(path)
    existing = h.read(path)
    explicit_found = watermark_found = False
    if existing is None and not declared:
        explicit_found, _ = _explicit_present(h, path)
        if not explicit_found:
            watermark_found = _watermark_present(h, path)
    verdict = propagation_verdict(existing, declared, explicit_found, watermark_found)
    if verdict is None:
        return PropagationResult(path=str(path), output=None, verdict=None, notice=None, label=None)
    new = propagated_label(existing, verdict, platform, propagate_id)
    dst = Path(out_dir) / path.name if out_dir else path
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    h.write(path, dst, new)
    return PropagationResult(
        path=str(path), output=str(dst), verdict=verdict, notice=notice_for(verdict), label=new.fields()
    )


# ---------------------------------------------------------------- batches

_SKIP_SUFFIXES = (".aigc.json", ".tmp")


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files given, and files under folders given (recursively, hidden ones skipped)."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if (
                    f.is_file()
                    and not any(part.startswith(".") for part in rel.parts)
                    and not f.name.endswith(_SKIP_SUFFIXES)
                ):
                    yield f
        else:
            yield p


class BatchItem(BaseModel):
    path: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None


def run_batch(
    paths: Iterable[str | Path],
    fn: Callable[[Path], BaseModel],
    progress: bool = True,
    description: str = "labeling",
) -> list[BatchItem]:
    """Apply ``fn`` to every file with a Rich progress bar; a LabelError marks that file as
    failed and the batch goes on."""
    files = list(iter_files(paths))
    out: list[BatchItem] = []

    def one(f: Path) -> BatchItem:
        try:
            r = fn(f)
        except LabelError as exc:
            return BatchItem(path=str(f), ok=False, error=exc.problem)
        err = getattr(r, "error", None)
        return BatchItem(path=str(f), ok=err is None, result=r.model_dump(), error=err)

    if not progress:
        return [one(f) for f in files]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=len(files))
        for f in files:
            out.append(one(f))
            bar.advance(task)
    return out


def label_bytes(
    data: bytes, suffix: str, label: ImplicitLabel, *, explicit: bool = True, watermark: bool = False
) -> bytes:
    """``label_file`` for content held in memory (the gateway's image/audio endpoints):
    ``suffix`` (".png", ".mp3", ...) tells text formats apart; binary ones are sniffed."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hegui-label-") as d:
        p = Path(d) / f"content{suffix}"
        p.write_bytes(data)
        label_file(p, label, explicit=explicit, watermark=watermark)
        return p.read_bytes()
