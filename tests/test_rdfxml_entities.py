"""RDF/XML with a DTD: flat entities (as Protégé writes them) are read; entities that could expand without
bound, or that name other files, are refused before the parser sees them, on every path that opens an RDF
file (``content.rdffiles.open_input``), gzip'd or not. The CLI cases are in tests/adversarial/rdfxml.json."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest

from guidelinekg.content.rdffiles import UnsafeInput, open_input, write_gzip

RDF = '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">'


def document(dtd: str, body: str) -> bytes:
    return f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n{dtd}\n]>\n{RDF}\n{body}\n</rdf:RDF>\n'.encode()


def parse(path: Path) -> list[ox.Quad]:
    with open_input(path) as stream:
        return list(ox.parse(input=stream, format=ox.RdfFormat.RDF_XML))


@pytest.mark.parametrize("name", ["flat.rdf", "flat.rdf.gz"])
def test_flat_entities_are_expanded_as_xml_says(tmp_path: Path, name: str) -> None:
    data = document('<!ENTITY ex "http://example.org/">\n<!ENTITY owl "http://www.w3.org/2002/07/owl#">',
                    '<rdf:Description rdf:about="&ex;s"><rdf:type rdf:resource="&owl;Thing"/></rdf:Description>')
    path = tmp_path / name
    path.write_bytes(write_gzip(data) if name.endswith(".gz") else data)
    (quad,) = parse(path)
    assert quad.subject == ox.NamedNode("http://example.org/s")
    assert quad.object == ox.NamedNode("http://www.w3.org/2002/07/owl#Thing")


@pytest.mark.parametrize("dtd,body,message", [
    ('<!ENTITY a "aaaa">\n<!ENTITY b "&a;&a;">', "<ex:x>&b;</ex:x>", "refers to another entity"),
    ('<!ENTITY b SYSTEM "file:///etc/hostname">', "<ex:x>&b;</ex:x>", "external entity"),
    ('<!ENTITY % p "x">', "", "parameter entity"),
    ('<!ENTITY w "' + "w" * 4096 + '">', "<ex:x>" + "&w;" * 5000 + "</ex:x>", "would expand to more than"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_unbounded_or_external_entities_are_refused(tmp_path: Path, dtd: str, body: str, message: str,
                                                    gz: bool) -> None:
    data = document(dtd, f'<rdf:Description rdf:about="http://example.org/s">{body}</rdf:Description>')
    path = tmp_path / ("x.rdf.gz" if gz else "x.rdf")
    path.write_bytes(write_gzip(data) if gz else data)
    with pytest.raises(UnsafeInput, match=message):
        open_input(path)


def test_a_reference_split_across_read_chunks_is_counted(tmp_path: Path) -> None:
    """The expansion count reads the body in chunks; a reference cut by a chunk boundary still counts."""
    value = "v" * 4000
    refs = "&w;" * 4300  # 17.2 M characters > the 16 M limit, the references span chunk boundaries
    data = document(f'<!ENTITY w "{value}">', "<ex:x>" + " " * 65533 + refs + "</ex:x>")
    path = tmp_path / "x.rdf"
    path.write_bytes(data)
    with pytest.raises(UnsafeInput, match="would expand"):
        open_input(path)


def test_turtle_is_not_scanned(tmp_path: Path) -> None:
    """Only RDF/XML has a DTD: other formats open as before."""
    path = tmp_path / "x.ttl"
    path.write_text('<http://example.org/s> <http://example.org/p> "<!DOCTYPE x [ <!ENTITY % p \'x\'> ]>" .\n')
    with open_input(path) as stream:
        assert len(list(ox.parse(input=stream, format=ox.RdfFormat.TURTLE))) == 1
