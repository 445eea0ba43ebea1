"""PDF: an Info dictionary entry ``/AIGC`` and the same value as ``TC260:AIGC`` in the
document's XMP metadata stream (pypdf). Page content streams are copied unchanged."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, ClassVar

from hegui.labeling.formats import xmp
from hegui.labeling.formats.base import FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label


def _reader(path: Path) -> Any:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise LabelError(path, "PDF support needs the 'pypdf' package (pip install pypdf)") from None
    try:
        r = PdfReader(io.BytesIO(read_bytes(path)), strict=False)
        _ = len(r.pages)  # forces the page tree: a broken file fails here, not later
        return r
    except LabelError:
        raise
    except Exception as exc:  # pypdf raises many types on corrupt input
        raise LabelError(path, f"PDF unreadable: {type(exc).__name__}: {exc}") from None


def _xmp_packet(reader: Any) -> str | None:
    try:
        meta = reader.trailer["/Root"].get("/Metadata")
        if meta is None:
            return None
        data = meta.get_object().get_data()
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    except Exception:
        return None


class PDFHandler(FormatHandler):
    name: ClassVar[str] = "pdf"
    modality: ClassVar[Modality] = "document"
    extensions: ClassVar[tuple[str, ...]] = (".pdf",)

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"%PDF-")

    def read(self, path: Path) -> ImplicitLabel | None:
        r = _reader(path)
        try:
            info = r.metadata
            value = info.get("/AIGC") if info else None
        except Exception as exc:
            raise LabelError(path, f"PDF Info dictionary unreadable: {exc}") from None
        if value is None:
            packet = _xmp_packet(r)
            if packet:
                try:
                    value = xmp.get_aigc(packet)
                except xmp.XMPError:
                    value = None
        return None if value is None else parse_label(str(value), path)

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        from pypdf import PdfWriter
        from pypdf.generic import DecodedStreamObject, NameObject, NumberObject

        r = _reader(src)
        try:
            w = PdfWriter(clone_from=r)
            w.add_metadata({"/AIGC": self.value(label)})  # replaces the key: one label per file
            packet = xmp.set_aigc(_xmp_packet(r), self.value(label))
            root = w._root_object
            current = root.get("/Metadata")
            if current is not None:
                # update the cloned stream itself, so no orphan packet with an old label remains
                obj = current.get_object()
                for k in ("/Filter", "/DecodeParms"):
                    obj.pop(k, None)
                obj._data = packet.encode("utf-8")
                obj[NameObject("/Length")] = NumberObject(len(obj._data))
                obj.decoded_self = None
            else:
                stream = DecodedStreamObject()
                stream.set_data(packet.encode("utf-8"))
                stream[NameObject("/Type")] = NameObject("/Metadata")
                stream[NameObject("/Subtype")] = NameObject("/XML")
                root[NameObject("/Metadata")] = w._add_object(stream)
            buf = io.BytesIO()
            w.write(buf)
        except Exception as exc:
            raise LabelError(src, f"cannot write PDF: {type(exc).__name__}: {exc}") from None
        atomic_write(dst, buf.getvalue())
