"""DOCX/XLSX/PPTX: a custom document property ``AIGC`` in ``docProps/custom.xml`` (TC260
document guide), with the content-type override and package relationship it needs. Other
package parts are copied unchanged."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
import zlib
from pathlib import Path
from typing import ClassVar

from hegui.labeling.formats.base import MAX_META, FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label

NS_CP = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
NS_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
NS_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"  # the fixed FMTID of user-defined properties
PART = "docProps/custom.xml"

for _p, _u in (("", NS_CP), ("vt", NS_VT)):
    ET.register_namespace(_p, _u)


def _open_zip(data: bytes, path: Path) -> zipfile.ZipFile:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LabelError(path, f"not a readable Office (zip) package: {exc}") from None
    if "[Content_Types].xml" not in z.namelist():
        raise LabelError(path, "zip file is not an Office package (no [Content_Types].xml)")
    return z


def _read_part(z: zipfile.ZipFile, name: str, path: Path) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_META:
        raise LabelError(path, f"{name} is larger than 16 MiB")
    try:
        return z.read(name)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        NotImplementedError,  # unsupported zip version or compression method
        RuntimeError,  # encrypted member
    ) as exc:
        raise LabelError(path, f"{name} unreadable: {exc}") from None


def _xml(data: bytes, name: str, path: Path) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise LabelError(path, f"{name} is not well-formed XML: {exc}") from None


class OOXMLHandler(FormatHandler):
    name: ClassVar[str] = "ooxml"
    modality: ClassVar[Modality] = "document"
    extensions: ClassVar[tuple[str, ...]] = (".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".pptm")

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"PK\x03\x04") and path.suffix.lower() in self.extensions

    def read(self, path: Path) -> ImplicitLabel | None:
        z = _open_zip(read_bytes(path), path)
        if PART not in z.namelist():
            return None
        root = _xml(_read_part(z, PART, path), PART, path)
        for prop in root.findall(f"{{{NS_CP}}}property"):
            if prop.get("name", "").upper() == "AIGC":
                return parse_label("".join(prop.itertext()), path)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        z = _open_zip(read_bytes(src), src)
        names = z.namelist()
        if PART in names:
            root = _xml(_read_part(z, PART, src), PART, src)
        else:
            root = ET.Element(f"{{{NS_CP}}}Properties")
        props = root.findall(f"{{{NS_CP}}}property")
        for p in props:
            if p.get("name", "").upper() == "AIGC":
                root.remove(p)
        pids = [
            int(p.get("pid", "1")) for p in root.findall(f"{{{NS_CP}}}property") if p.get("pid", "").isdigit()
        ]
        prop = ET.SubElement(
            root,
            f"{{{NS_CP}}}property",
            {"fmtid": FMTID, "pid": str(max(pids, default=1) + 1), "name": "AIGC"},
        )
        ET.SubElement(prop, f"{{{NS_VT}}}lpwstr").text = self.value(label)
        custom = ET.tostring(root, encoding="utf-8", xml_declaration=True)

        ct = _xml(_read_part(z, "[Content_Types].xml", src), "[Content_Types].xml", src)
        if not any(o.get("PartName") == "/" + PART for o in ct.findall(f"{{{NS_CT}}}Override")):
            ET.SubElement(ct, f"{{{NS_CT}}}Override", {"PartName": "/" + PART, "ContentType": CT_CUSTOM})
        rels_name = "_rels/.rels"
        rels = (
            _xml(_read_part(z, rels_name, src), rels_name, src)
            if rels_name in names
            else ET.Element(f"{{{NS_REL}}}Relationships")
        )
        if not any(r.get("Type") == REL_CUSTOM for r in rels.findall(f"{{{NS_REL}}}Relationship")):
            ids = {r.get("Id") for r in rels.findall(f"{{{NS_REL}}}Relationship")}
            k = 1
            while f"rIdAIGC{k}" in ids:
                k += 1
            ET.SubElement(
                rels, f"{{{NS_REL}}}Relationship", {"Id": f"rIdAIGC{k}", "Type": REL_CUSTOM, "Target": PART}
            )
        replaced = {
            PART: custom,
            "[Content_Types].xml": _ser(ct, NS_CT),
            rels_name: _ser(rels, NS_REL),
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
            # [Content_Types].xml first, as Office writes it
            order = ["[Content_Types].xml"] + [n for n in names if n != "[Content_Types].xml"]
            for n in order:
                out.writestr(n, replaced.pop(n) if n in replaced else _read_part(z, n, src))
            for n, data in replaced.items():
                out.writestr(n, data)
        atomic_write(dst, buf.getvalue())


def _ser(el: ET.Element, default_ns: str) -> bytes:
    ET.register_namespace("", default_ns)
    return ET.tostring(el, encoding="utf-8", xml_declaration=True)


NS_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOC_PART = "word/document.xml"


def docx_text(path: Path) -> str:
    """The visible text of a DOCX body, paragraphs separated by newlines."""
    z = _open_zip(read_bytes(path), path)
    if DOC_PART not in z.namelist():
        return ""
    root = _xml(_read_part(z, DOC_PART, path), DOC_PART, path)
    paras = []
    for p in root.iter(f"{{{NS_W}}}p"):
        paras.append("".join(t.text or "" for t in p.iter(f"{{{NS_W}}}t")))
    return "\n".join(paras)


def add_docx_notice(src: Path, dst: Path, notice: str, position: str = "end") -> bool:
    """Copy a DOCX with a paragraph holding ``notice`` at the start or end of the body.
    False (nothing written) for XLSX/PPTX, which have no single body to put it in.

    The paragraph is spliced into the XML text rather than re-serialising the tree: Word
    documents declare prefixes used only in ``mc:Ignorable``, which ElementTree would drop."""
    import re
    from xml.sax.saxutils import escape

    z = _open_zip(read_bytes(src), src)
    if DOC_PART not in z.namelist():
        return False
    raw = _read_part(z, DOC_PART, src)
    _xml(raw, DOC_PART, src)  # well-formed before we touch it
    text = raw.decode("utf-8")
    m = re.search(r'xmlns:([A-Za-z_][\w.-]*)="' + re.escape(NS_W) + '"', text)
    if m is None:
        raise LabelError(src, "DOCX document does not declare the WordprocessingML namespace")
    w = m.group(1)
    para = f'<{w}:p><{w}:r><{w}:t xml:space="preserve">{escape(notice)}</{w}:t></{w}:r></{w}:p>'
    open_body = re.search(rf"<{w}:body(\s[^>]*)?>", text)
    close_body = text.rfind(f"</{w}:body>")
    if open_body is None or close_body < 0:
        raise LabelError(src, "DOCX document has no body")
    if position == "start":
        at = open_body.end()
    else:  # before the final section properties, which must stay last
        sect = text.rfind(f"<{w}:sectPr", open_body.end(), close_body)
        last_p = text.rfind(f"</{w}:p>", open_body.end(), close_body)
        at = sect if sect > last_p else close_body
    new = (text[:at] + para + text[at:]).encode("utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for name in z.namelist():
            out.writestr(name, new if name == DOC_PART else _read_part(z, name, src))
    atomic_write(dst, buf.getvalue())
    return True
