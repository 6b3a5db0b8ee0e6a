"""The SPARQL 1.1 Service Description the endpoint answers ``GET /query`` without a query with.

It claims what the endpoint does (SPARQL 1.1 Query, the result formats of
:mod:`guidelinekg.endpoint.protocol`, the union default graph) and no ``sd:BasicFederatedQuery``: SERVICE is
refused.
"""

from __future__ import annotations

import pyoxigraph as ox

from guidelinekg.endpoint.protocol import GRAPH_FORMATS, Reply, negotiate, text_reply

_DESCRIPTION = """@prefix sd: <http://www.w3.org/ns/sparql-service-description#> .
@prefix fmt: <http://www.w3.org/ns/formats/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

<{url}> a sd:Service ;
  rdfs:label "guidelinekg read-only SPARQL 1.1 endpoint (updates and SERVICE refused)" ;
  sd:endpoint <{url}> ;
  sd:supportedLanguage sd:SPARQL11Query ;
  sd:resultFormat fmt:SPARQL_Results_JSON, fmt:SPARQL_Results_XML, fmt:SPARQL_Results_CSV,
    fmt:SPARQL_Results_TSV, fmt:Turtle, fmt:N-Triples, fmt:RDF_XML, fmt:JSON-LD ;
{feature}  sd:defaultDataset [ a sd:Dataset ; sd:defaultGraph [ a sd:Graph ] ] .
"""


def service_description(url: str, accept: str | None, *, union_default_graph: bool = True) -> Reply:
    """The SPARQL 1.1 Service Description of the endpoint at ``url`` (Turtle unless ``Accept`` asks for
    another RDF format). It claims no ``sd:BasicFederatedQuery``: SERVICE is refused."""
    feature = "  sd:feature sd:UnionDefaultGraph ;\n" if union_default_graph else ""
    text = _DESCRIPTION.format(url=url, feature=feature)
    media = negotiate(accept, GRAPH_FORMATS)
    if media is None:
        return text_reply(406, f"none of the accepted types is available; offered: {', '.join(GRAPH_FORMATS)}")
    if media == "text/turtle":
        body = text.encode()
    else:
        body = ox.serialize(ox.parse(text, format=ox.RdfFormat.TURTLE), format=GRAPH_FORMATS[media])
    return Reply(200, media + ("; charset=utf-8" if media.startswith("text/") else ""), body)
