"""The XMP packet that carries ``TC260:AIGC`` (TC260 practice guide for images).

We write the property as an element of its own ``rdf:Description`` and read it as either an
element or an attribute (both are legal RDF/XML and both occur in the wild)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

NS_TC260 = "http://www.tc260.org.cn/ns/AIGC/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_X = "adobe:ns:meta/"
_PROP = f"{{{NS_TC260}}}AIGC"

for _p, _u in (("TC260", NS_TC260), ("rdf", NS_RDF), ("x", NS_X)):
    ET.register_namespace(_p, _u)

_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_TAIL = '<?xpacket end="w"?>'


class XMPError(ValueError):
    pass


def _parse(packet: str) -> ET.Element:
    body = packet.strip().lstrip("\ufeff")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise XMPError(f"XMP packet is not well-formed XML: {exc}") from None


def get_aigc(packet: str) -> str | None:
    """The ``TC260:AIGC`` value in a packet, or None."""
    root = _parse(packet)
    for el in root.iter():
        if el.tag == _PROP and el.text is not None:
            return el.text
        if _PROP in el.attrib:
            return el.attrib[_PROP]
    return None


def set_aigc(packet: str | None, value: str) -> str:
    """A packet with ``TC260:AIGC`` = value, keeping the other properties of ``packet``."""
    root: ET.Element | None = None
    if packet:
        try:
            root = _parse(packet)
        except XMPError:
            root = None  # an unreadable old packet is replaced rather than kept
    if root is None:
        root = ET.Element(f"{{{NS_X}}}xmpmeta")
    rdf = root if root.tag == f"{{{NS_RDF}}}RDF" else root.find(f"{{{NS_RDF}}}RDF")
    if rdf is None:
        rdf = ET.SubElement(root, f"{{{NS_RDF}}}RDF")
    # one label per file: drop every earlier TC260:AIGC, as attribute or element
    for el in list(root.iter()):
        el.attrib.pop(_PROP, None)
        for child in list(el):
            if child.tag == _PROP:
                el.remove(child)
    desc = ET.SubElement(rdf, f"{{{NS_RDF}}}Description", {f"{{{NS_RDF}}}about": ""})
    prop = ET.SubElement(desc, _PROP)
    prop.text = value
    return _HEAD + ET.tostring(root, encoding="unicode") + _TAIL
