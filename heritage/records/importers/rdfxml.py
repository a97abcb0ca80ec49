"""RDF/XML in any of its abbreviations, rewritten into the one form the EDM mapper reads.

RDF/XML can write the same graph in several ways. Europeana's EDM schema asks for
one of them: typed node elements (``edm:ProvidedCHO``, ``ore:Aggregation``, ...) side
by side in ``rdf:RDF``, each resource described once, linked by ``rdf:resource``.
Tools that write RDF generically (rdflib, Jena, triple stores, exports of linked-data
platforms) write the same graph otherwise, and EDM reaches us from them too.
:func:`normalise` rewrites one ``rdf:RDF`` element, in place, into the EDM form:

* ``rdf:Description`` with an ``rdf:type`` of a class in a namespace the record
  model knows becomes that typed element (the ``rdf:type`` it took is removed); a
  resource of two classes the mapper reads is described once as each;
* a node element nested in a property moves up beside the others, and the
  property links to it by ``rdf:resource``; a nested node without a URI (a blank
  node), and a property with ``rdf:parseType="Resource"``, give the property its
  label (``skos:prefLabel``, ``foaf:name``, ``rdfs:label`` or ``rdf:value``) as text;
* literal properties written as attributes of a node element (``dc:title="..."``)
  become property elements;
* ``rdf:ID`` and relative ``rdf:about`` / ``rdf:resource`` are resolved against
  ``xml:base`` where the document declares one (else they stay relative, as EDM
  files often write them);
* a literal takes the ``xml:lang`` in scope, which RDF/XML inherits from the
  enclosing elements;
* a property linking to a blank node by ``rdf:nodeID`` (how flat serialisers write
  blank nodes) gets that node's label as text, as if the node were nested, and a
  blank node so used for labels only is removed.

What RDF/XML allows beyond this (collections, reification) has no place in EDM
records and is left as it is: the mapper then reports what it did not keep.
"""

from __future__ import annotations

import copy
from urllib.parse import urljoin

from lxml import etree

from heritage.records.fields import PREFIXES

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
DESCRIPTION = f"{{{RDF}}}Description"
TYPE = f"{{{RDF}}}type"
ABOUT = f"{{{RDF}}}about"
ID = f"{{{RDF}}}ID"
RESOURCE = f"{{{RDF}}}resource"
NODE_ID = f"{{{RDF}}}nodeID"
PARSE_TYPE = f"{{{RDF}}}parseType"
XML_BASE = f"{{{XML}}}base"
XML_LANG = f"{{{XML}}}lang"

_KNOWN_NAMESPACES = tuple(sorted(set(PREFIXES.values()), key=len, reverse=True))


def _classes(*names: str) -> tuple[str, ...]:
    """Clark names of prefixed class names (``edm:Agent``)."""
    return tuple(
        f"{{{PREFIXES[prefix]}}}{local}" for prefix, local in (n.split(":") for n in names)
    )


# the classes the EDM mapper reads, preferred when a description has several types
_MAPPED_CLASSES = _classes(
    "edm:ProvidedCHO",
    "ore:Aggregation",
    "ore:Proxy",
    "edm:WebResource",
    "edm:Agent",
    "foaf:Organization",
    "edm:Place",
    "edm:TimeSpan",
    "skos:Concept",
    "edm:EuropeanaAggregation",
    "svcs:Service",
)
_LABELS = (
    f"{{{PREFIXES['skos']}}}prefLabel",
    f"{{{PREFIXES['foaf']}}}name",
    f"{{{RDFS}}}label",
    f"{{{RDF}}}value",
)
# the classes a record is made of: a blank node of one of these stays where it is
_CORE_CLASSES = _classes(
    "edm:ProvidedCHO", "ore:Aggregation", "ore:Proxy", "edm:WebResource", "edm:EuropeanaAggregation"
)
# nodes moved up per record at most: a bound on what a hostile file can make us do
MAX_NODES = 10_000


def normalise(rdf: etree._Element) -> None:
    """Rewrite the ``rdf:RDF`` element ``rdf`` into typed, top-level node elements."""
    queue = [child for child in rdf if isinstance(child.tag, str)]
    blank = _blank_nodes(queue)
    labelled: set[str] = set()
    handled = 0
    while queue and handled < MAX_NODES:
        node = queue.pop(0)
        handled += 1
        _resolve_node_uri(node)
        also = _take_types(node)
        _attributes_to_properties(node)
        for prop in node:
            if not isinstance(prop.tag, str):
                continue
            if prop.get(NODE_ID) is not None:
                _label_from_node_id(prop, blank, labelled)
                continue
            moved = _flatten_property(rdf, prop)
            if moved is not None:
                queue.append(moved)
        # a resource of two classes (an aggregation that is also a web resource) is
        # described once per class, as the mapper reads one class per element
        for tag in also:
            twin = copy.deepcopy(node)
            twin.tag = tag
            rdf.append(twin)
    for node_id in labelled:
        node = blank[node_id]
        if node.tag not in _CORE_CLASSES and node.getparent() is rdf:
            rdf.remove(node)  # its label now stands where it was used


def _blank_nodes(nodes: list[etree._Element]) -> dict[str, etree._Element]:
    """The top-level nodes named by ``rdf:nodeID`` (and by no URI), by their node id."""
    return {
        node.get(NODE_ID, ""): node
        for node in nodes
        if node.get(NODE_ID) and node.get(ABOUT) is None and node.get(ID) is None
    }


def _label_from_node_id(
    prop: etree._Element, blank: dict[str, etree._Element], labelled: set[str]
) -> None:
    """``<dc:creator rdf:nodeID="b1"/>`` takes the label of the node ``b1`` as its text,
    as a nested blank node gives it; without a label the link is left as written."""
    node = blank.get(prop.get(NODE_ID, ""))
    if node is None:
        return
    _take_types(node)
    _attributes_to_properties(node)
    if _to_label(prop, node):
        del prop.attrib[NODE_ID]
        labelled.add(node.get(NODE_ID, ""))


def _in_scope(element: etree._Element, attribute: str) -> str | None:
    """``xml:base`` or ``xml:lang`` as it applies to the element: its own or the nearest
    ancestor's (the file's own path is not a base: relative URIs stay relative)."""
    node: etree._Element | None = element
    while node is not None:
        declared = node.get(attribute)
        if declared is not None:
            return declared.strip()
        node = node.getparent()
    return None


def _resolve(reference: str, element: etree._Element) -> str:
    reference = reference.strip()
    base = _in_scope(element, XML_BASE)
    return urljoin(base, reference) if base and reference else reference


def _resolve_node_uri(node: etree._Element) -> None:
    about = node.get(ABOUT)
    if about is not None:
        node.set(ABOUT, _resolve(about, node))
    elif node.get(ID):
        node.set(ABOUT, _resolve("#" + node.get(ID, "").strip(), node))
        del node.attrib[ID]


def _class_tag(uri: str) -> str | None:
    """The Clark name of a class URI in a namespace the record model knows."""
    for namespace in _KNOWN_NAMESPACES:
        if uri.startswith(namespace) and uri[len(namespace) :].isidentifier():
            return f"{{{namespace}}}{uri[len(namespace) :]}"
    return None


def _take_types(node: etree._Element) -> list[str]:
    """An ``rdf:Description`` becomes the typed element of its (best known) ``rdf:type``;
    the other classes the mapper reads that the node also has are returned (the node is
    then copied once per class), and the ``rdf:type`` elements of all of them removed."""
    typed = [
        (tag, child)
        for child in node.iterchildren(TYPE)
        if (tag := _class_tag(child.get(RESOURCE) or "")) is not None
    ]
    if node.tag == DESCRIPTION and typed:
        node.tag = min((tag for tag, _ in typed), key=_preference)
    extra: list[str] = []
    for tag, child in typed:
        if tag == node.tag or tag in _MAPPED_CLASSES:
            node.remove(child)
            if tag != node.tag and tag not in extra:
                extra.append(tag)
    return extra


def _preference(tag: str) -> int:
    return _MAPPED_CLASSES.index(tag) if tag in _MAPPED_CLASSES else len(_MAPPED_CLASSES)


def _attributes_to_properties(node: etree._Element) -> None:
    """``<edm:ProvidedCHO dc:title="A"/>`` -> ``<edm:ProvidedCHO><dc:title>A</dc:title>``."""
    literal = [
        (name, value)
        for name, value in node.attrib.items()
        if name.startswith("{") and not name.startswith((f"{{{RDF}}}", f"{{{XML}}}"))
    ]
    lang = _in_scope(node, XML_LANG)
    for position, (name, value) in enumerate(literal):
        prop = etree.Element(name, nsmap=node.nsmap)
        prop.text = value
        if lang:
            prop.set(XML_LANG, lang)
        node.insert(position, prop)
        del node.attrib[name]


def _flatten_property(rdf: etree._Element, prop: etree._Element) -> etree._Element | None:
    """Move a node nested in ``prop`` up to ``rdf`` (returned), or turn a blank node into
    its label; resolve a relative ``rdf:resource``; give a literal the language in scope."""
    if prop.get(RESOURCE) is not None:
        prop.set(RESOURCE, _resolve(prop.get(RESOURCE, ""), prop))
        return None
    parse_type = prop.get(PARSE_TYPE)
    if parse_type == "Resource":
        _to_label(prop, prop)
        return None
    if parse_type is not None:
        return None  # an XML literal or a collection: left as written
    nested = [child for child in prop if isinstance(child.tag, str)]
    if not nested:
        _inherit_language(prop)
        return None
    if len(nested) != 1:
        return None
    inner = nested[0]
    _resolve_node_uri(inner)
    about = inner.get(ABOUT)
    if not about:
        _take_types(inner)
        _attributes_to_properties(inner)
        _to_label(prop, inner)
        return None
    for attribute in (XML_BASE, XML_LANG):  # what applied where it was still applies
        scoped = _in_scope(inner, attribute)
        if scoped is not None and inner.get(attribute) is None:
            inner.set(attribute, scoped)
    prop.remove(inner)
    inner.tail = None
    prop.text = None
    prop.set(RESOURCE, about)
    rdf.append(inner)
    return inner


def _inherit_language(prop: etree._Element) -> None:
    """A literal without ``xml:lang`` takes the language in scope (RDF/XML inherits it;
    the mapper reads each value's own)."""
    if prop.get(XML_LANG) is not None or prop.get(f"{{{RDF}}}datatype") is not None:
        return
    lang = _in_scope(prop, XML_LANG)
    if lang:
        prop.set(XML_LANG, lang)


def _to_label(prop: etree._Element, node: etree._Element) -> bool:
    """Replace ``prop``'s content by the first label ``node`` gives (with its language);
    whether it had one."""
    labels = (child for name in _LABELS for child in node.iterchildren(name))
    label = next((child for child in labels if (child.text or "").strip()), None)
    if label is None:
        return False
    text, lang = label.text, label.get(XML_LANG)
    for child in list(prop):
        prop.remove(child)
    if prop.get(PARSE_TYPE) is not None:
        del prop.attrib[PARSE_TYPE]
    prop.text = text
    if lang:
        prop.set(XML_LANG, lang)
    return True
