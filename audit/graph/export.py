"""GraphML and GEXF written element by element (lxml's incremental writer, `etree.xmlfile`),
straight from a graph's items: no copy of the graph and no whole document in memory.

The writers read a graph twice through `Items` — a first pass declares the attribute keys
(GraphML `<key>`, GEXF `<attributes>`, which come before the data), a second writes each node
and edge — so they work on anything that can list its items again (a networkx graph through
audit.graph.build, or an aggregated table). They carry the data networkx's writers carry
(`nx.read_graphml` / `nx.read_gexf` read back the same nodes, edges, attributes and types;
tests/test_graph_export.py), with these differences, all on input networkx cannot write:

- values: `clean` decides, once for every format: None is dropped, lists are joined with
  spaces, maps become `key:value` lists, str/int/float/bool are kept (numpy numbers as Python
  numbers, str subclasses as their text); anything else is refused (ExportError naming the
  node or edge and the attribute). networkx fails on those without saying where.
- characters XML 1.0 cannot carry (control characters other than tab, newline and carriage
  return, U+FFFE/U+FFFF, lone surrogates) in a value become U+FFFD, counted and logged once per
  file; networkx's GraphML writer raises on them and its GEXF writer writes a document no XML
  parser reads. In a node id or an attribute name they are refused (an id must stay what the
  edges refer to).
- GraphML booleans are `true`/`false` and NaN/infinity `NaN`/`Infinity`/`-Infinity`, which
  both Java (yEd, Gephi) and Python parse; networkx writes `True` and `nan`/`inf`.
- GEXF: an attribute with values of more than one type is declared once (int and float:
  `double`, other mixes: `string`); networkx declares the first value's type and writes a file
  its own reader cannot read back. A node's `id` attribute stays an attribute (networkx makes
  it the node's XML id), an edge's `type` too (networkx moves it to the edge element, where
  GEXF allows only directed/undirected/mutual, and its reader drops it). Like networkx: a
  node's `label` is its label (else its id), an edge's `id`, `label` and `weight` are the edge
  element's; the graph's `name` is the graph's; other graph attributes have no place in GEXF.

Files are written to a temporary file beside the final name and renamed when complete
(`atomic_file`): a write that fails midway (a full disk, a refused value) leaves no partial
file under the final name, and an earlier file there stays as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import numbers
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import lxml.etree as etree

from audit.web.xmlchars import NOT_XML, comment_text, xml_text

logger = logging.getLogger(__name__)

Scalar = str | int | float | bool
_PLAIN = frozenset({str, int, float, bool})
NodeItems = Callable[[], Iterable[tuple[Any, Mapping[str, Any]]]]
EdgeItems = Callable[[], Iterable[tuple[Any, Any, Mapping[str, Any]]]]

NS_GRAPHML = "http://graphml.graphdrawing.org/xmlns"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
GRAPHML_SCHEMA = f"{NS_GRAPHML} {NS_GRAPHML}/1.0/graphml.xsd"
NS_GEXF = "http://www.gexf.net/1.2draft"
GEXF_SCHEMA = f"{NS_GEXF} {NS_GEXF}/gexf.xsd"

# The XML type of each Python type, as networkx's writers declare them.
_TYPES: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string"}


class ExportError(ValueError):
    """A graph the writers refuse: the message names the node or edge and the attribute."""


@dataclass(frozen=True)
class Items:
    """What the writers read of a graph. `nodes` and `edges` are called twice (declarations,
    then data) and must give the same items both times."""

    directed: bool
    attributes: Mapping[str, Any]
    nodes: NodeItems
    edges: EdgeItems


# ---------------------------------------------------------------------------------------
# The cleaning: one decision for every format
# ---------------------------------------------------------------------------------------


def clean(value: Any) -> Scalar | None:
    """A value as GraphML and GEXF can carry it (they have no lists or maps): None is dropped
    (None returned), lists/tuples/sets are joined with spaces, maps become `key:value` lists,
    scalars stay; TypeError for anything else."""
    if type(value) in _PLAIN:  # the common case first: a graph export cleans every value
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    # Plain lists and maps by their exact type next (an edge has several): the abstract
    # checks below cost ~1 us a value.
    if type(value) is list or type(value) is tuple:
        return _joined(value)
    if type(value) is dict:
        return _pairs(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)  # StrEnum: its text
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _joined(value)
    if isinstance(value, Mapping):
        return _pairs(value)
    raise TypeError(f"a value of type {type(value).__name__} ({_short(value)}) cannot be "
                    "written to GraphML or GEXF: only text, numbers, booleans, lists and maps")


def _joined(items: Iterable[Any]) -> str:
    return " ".join(map(str, items))


def _pairs(mapping: Mapping[Any, Any]) -> str:
    return " ".join(f"{k}:{v}" for k, v in mapping.items())


def clean_scalar(value: str | numbers.Real) -> Scalar:
    """A scalar of a subclass (a StrEnum, a numpy number) as its plain type."""
    cleaned = clean(value)
    assert cleaned is not None
    return cleaned


def _kind(value: Any) -> type | None:
    """The type `clean(value)` has, without joining a list (the declaration pass)."""
    kind = type(value)
    if kind in _PLAIN or kind is list:
        return kind if kind is not list else str
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        return str
    return type(clean(value))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _where(scope: str, item: Any) -> str:
    if scope == "edge":
        return f"edge {item[0]!r} -> {item[1]!r}"
    return "the graph" if scope == "graph" else f"node {item!r}"


def _attributes(scope: str, item: Any, data: Mapping[str, Any],
                skip: frozenset[str] = frozenset(),
                seen: set[tuple[str, type]] | None = None) -> Iterator[tuple[str, type]]:
    """(name, cleaned type) of an item's attributes written as attribute values (all but
    `skip`, which are checked all the same); ExportError naming the item.

    `seen`: (name, value type) pairs already declared, skipped (a 400,000-edge graph repeats
    the same twenty pairs 8 million times). Only text names with plain or list values are
    remembered: their cleaned type follows from their type, and their name was checked."""
    for key, value in data.items():
        value_type = type(value)
        # A plain text key only: a str subclass equal to one may write another name.
        if seen is not None and type(key) is str and (key, value_type) in seen:
            continue
        try:
            kind = _kind(value)
        except TypeError as exc:
            raise ExportError(f"{_where(scope, item)}, attribute {key!r}: {exc}") from None
        if kind is not None and key not in skip:
            yield _name(scope, item, key), kind
        if seen is not None and type(key) is str and (value_type in _PLAIN
                                                      or value_type is list):
            seen.add((key, value_type))


def _name(scope: str, item: Any, name: Any) -> str:
    text = name if type(name) is str else str(name)
    if NOT_XML.search(text):
        raise ExportError(f"{_where(scope, item)}: the attribute name {text!r} has characters "
                          "XML 1.0 cannot carry")
    return text


def _node_id(node: Any) -> str:
    text = str(node)
    if NOT_XML.search(text):
        raise ExportError(f"node {text!r}: its id has characters XML 1.0 cannot carry")
    return text


@dataclass
class _Replaced:
    """Values whose unwritable characters became U+FFFD in one file (logged once)."""

    count: int = 0
    first: str = ""

    def text(self, value: str, scope: str, item: Any, key: str) -> str:
        if not NOT_XML.search(value):
            return value
        if not self.count:
            self.first = f"{_where(scope, item)}, attribute {key!r}"
        self.count += 1
        return xml_text(value)

    def written(self, data: Mapping[str, Any], as_text: Callable[[Scalar], str], scope: str,
                item: Any, skip: frozenset[str] = frozenset(),
                ) -> Iterator[tuple[str, type, str]]:
        """(name, cleaned type, text) of each of an item's values as a writer writes it
        (`as_text`: the format's text of a cleaned scalar), but those in `skip` and the
        None ones (not written). One generator an item, not a call a value: an export
        writes ~9 million values at a million observations."""
        search = NOT_XML.search
        for key, value in data.items():
            if key in skip:
                continue
            name = key if type(key) is str else str(key)
            value_type = type(value)
            if value_type is str:  # most values: no cleaning, no conversion
                yield name, str, value if not search(value) else self.text(value, scope, item,
                                                                           name)
            elif value_type is int:  # counts, the next most: the same text in every format
                yield name, int, str(value)
            elif value_type is float:
                yield name, float, as_text(value)
            elif (cleaned := clean(value)) is not None:
                text = as_text(cleaned)
                if type(cleaned) is str:  # a number's text is always writable
                    text = self.text(text, scope, item, name)
                yield name, type(cleaned), text

    def log(self, path: str) -> None:
        if self.count:
            logger.warning("%s: %d value(s) had characters XML 1.0 cannot carry, written as "
                           "U+FFFD (first: %s)", path, self.count, self.first)


# An element's shape: its tag, its attributes' names, and a key (GraphML) or attribute id
# (GEXF) for each value it holds.
Shape = tuple[str, tuple[str, ...], tuple[str, ...]]


class _Elements:
    """One element per shape, filled again for each node or edge of that shape: the writers
    serialize an element (`xf.write`) before they fill the next, and a shape fixes every
    attribute and value an element has, so nothing of the previous item is left. lxml makes
    an element in ~2 us, and an edge is ~25 of them: two thirds of an export's time went to
    making them (bench/scale.py's graph). `make(shape)` makes one; at most LIMIT shapes are
    kept (a graph whose items all differ in shape is still written, an element made for each).
    An element comes with its value elements as a list: lxml makes a new Python object for a
    child each time one is read from its parent (25 an edge)."""

    LIMIT = 4096

    def __init__(self, make: Callable[[Shape], Any]):
        self._make = make
        self._known: dict[Shape, tuple[Any, list[Any]]] = {}

    def element(self, shape: Shape) -> tuple[Any, list[Any]]:
        """The element of `shape` and its value elements, in the shape's order."""
        found = self._known.get(shape)
        if found is None:
            element, values = self._make(shape)
            found = (element, values)
            if len(self._known) < self.LIMIT:
                self._known[shape] = found
        return found


# The value types whose cleaning follows from the type alone: how each is written (_TEXT:
# as it is; _NUMBER: its text; _SCALAR: the format's text; _LIST, _MAP: joined, then checked
# like a text), and the type it is declared as.
_TEXT, _NUMBER, _SCALAR, _LIST, _MAP = range(5)
_WRITTEN_AS: dict[type, tuple[int, type]] = {
    str: (_TEXT, str), int: (_NUMBER, int), float: (_SCALAR, float), bool: (_SCALAR, bool),
    list: (_LIST, str), tuple: (_LIST, str), dict: (_MAP, str)}
_NONE = type(None)

# An item's data's shape: its keys, their types and its values' types.
DataShape = tuple[tuple[Any, ...], tuple[type, ...], tuple[type, ...]]


def _data_shape(data: Mapping[Any, Any]) -> DataShape:
    return tuple(data), tuple(map(type, data)), tuple(map(type, data.values()))


def _decisive(shape: DataShape) -> bool:
    """Whether an item's data's shape decides how it is declared and written: text keys (a
    str subclass equal to a key may write another name) and values of the types in
    _WRITTEN_AS or None."""
    _, key_types, value_types = shape
    return (all(kind is str for kind in key_types)
            and all(kind in _WRITTEN_AS or kind is _NONE for kind in value_types))


class _DeclaredShapes:
    """The data shapes whose attributes were declared (the declaration pass): an item of a
    shape declared before declares nothing new (a 400,000-edge graph has a few shapes)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._known: set[DataShape] = set()

    def new(self, data: Mapping[Any, Any]) -> bool:
        """Whether `data`'s attributes are to be declared (its shape is remembered)."""
        shape = _data_shape(data)
        if shape in self._known:
            return False
        if len(self._known) < self.LIMIT and _decisive(shape):
            self._known.add(shape)
        return True


class _Plan(NamedTuple):
    """How an item of one data shape is written: its element and value elements, the
    positions of its written values among its data's (None: all), how each is written
    (_WRITTEN_AS) and its name."""
    element: Any
    children: list[Any]
    positions: tuple[int, ...] | None
    codes: tuple[int, ...]
    names: tuple[str, ...]


class _Filled:
    """An item's element filled with its values (`element`). What is written of an item is
    decided once per shape of its data (`_data_shape`): the attribute keys, which values
    are written and how; each item then only puts its values' texts into the element of its
    shape. Items of other shapes go through `_Replaced.written`, a value at a time, as every
    item did: the GraphML of a 400,000-edge graph (~9 million values) 10.3 s so, 8.6 s
    planned (docs/benchmarks.md, "Twenty-third session")."""

    LIMIT = 4096

    def __init__(self, make: Callable[[Shape], Any], replaced: _Replaced,
                 as_text: Callable[[Scalar], str], key_of: Callable[[str, str, type], str],
                 value_attribute: str | None = None, skip: frozenset[str] = frozenset()):
        """key_of(scope, name, type): the key (GraphML) or attribute id (GEXF) a value is
        written under; value_attribute: the value element's attribute a text goes in (None:
        its text)."""
        self._elements = _Elements(make)
        self._replaced = replaced
        self._as_text = as_text
        self._key_of = key_of
        self._value_attribute = value_attribute
        self._skip = skip
        self._plans: dict[tuple[str, tuple[str, ...], DataShape], _Plan | None] = {}

    def element(self, tag: str, attributes: dict[str, str], scope: str, item: Any,
                data: Mapping[Any, Any]) -> Any:
        """The element of an item (tag, its XML attributes in this order) with its data."""
        data_shape = _data_shape(data)
        shape = (tag, tuple(attributes), data_shape)
        try:
            plan = self._plans[shape]
        except KeyError:
            plan = (self._plan(tag, tuple(attributes), data_shape, scope)
                    if _decisive(data_shape) else None)
            if len(self._plans) < self.LIMIT:
                self._plans[shape] = plan
        if plan is None:
            return self._any(tag, attributes, scope, item, data)
        element = plan.element
        for name, value in attributes.items():  # in this order in the file
            element.set(name, value)
        values: Sequence[Any] = tuple(data.values())
        if plan.positions is not None:
            values = [values[position] for position in plan.positions]
        search, replaced, as_text = NOT_XML.search, self._replaced, self._as_text
        attribute = self._value_attribute
        for child, value, code, name in zip(plan.children, values, plan.codes, plan.names,
                                            strict=True):
            if code == _TEXT:
                text = value if not search(value) else replaced.text(value, scope, item, name)
            elif code == _NUMBER:
                text = str(value)
            elif code == _SCALAR:
                text = as_text(value)
            else:
                text = _joined(value) if code == _LIST else _pairs(value)
                if search(text):
                    text = replaced.text(text, scope, item, name)
            if attribute is None:
                child.text = text
            else:
                child.set(attribute, text)
        return element

    def _plan(self, tag: str, attributes: tuple[str, ...], data_shape: DataShape,
              scope: str) -> _Plan:
        keys, _, value_types = data_shape
        positions, codes, names, ids = [], [], [], []
        for position, (key, value_type) in enumerate(zip(keys, value_types, strict=True)):
            if key in self._skip or value_type is _NONE:
                continue
            code, kind = _WRITTEN_AS[value_type]
            positions.append(position)
            codes.append(code)
            names.append(key)
            ids.append(self._key_of(scope, key, kind))
        element, children = self._elements.element((tag, attributes, tuple(ids)))
        return _Plan(element, children,
                     None if len(positions) == len(keys) else tuple(positions),
                     tuple(codes), tuple(names))

    def _any(self, tag: str, attributes: dict[str, str], scope: str, item: Any,
             data: Mapping[Any, Any]) -> Any:
        """An item of data of any other shape: each value cleaned (`clean`) as it comes."""
        ids, texts = [], []
        for name, kind, text in self._replaced.written(data, self._as_text, scope, item,
                                                       self._skip):
            ids.append(self._key_of(scope, name, kind))
            texts.append(text)
        element, children = self._elements.element((tag, tuple(attributes), tuple(ids)))
        for name, value in attributes.items():
            element.set(name, value)
        for child, text in zip(children, texts, strict=True):
            if self._value_attribute is None:
                child.text = text
            else:
                child.set(self._value_attribute, text)
        return element


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def _umask() -> int:
    """The process's umask, read without changing it (os.umask sets one to read it, which a
    thread creating a file at that instant would get)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that appears under `path` only once completely written: a temporary
    file in the same directory (same file system: the rename is atomic), renamed on success,
    removed on any failure."""
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    except OSError as exc:  # named after the file asked for, not the temporary one
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from None
    try:
        # mkstemp's file is the owner's only (0600); the export gets the mode any new file
        # gets here (0644 under the usual umask), as open() would have given it.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _prolog(out: IO[bytes], comments: Sequence[str]) -> None:
    """The XML declaration and `comments` (lxml's incremental writer writes nothing but
    elements and comments outside the root: no line breaks between them)."""
    out.write(b"<?xml version='1.0' encoding='utf-8'?>\n")
    for line in comments:
        # A comment cannot hold "--" nor end with "-"; nor carry what XML cannot.
        text = comment_text(line)
        out.write(etree.tostring(etree.Comment(f" {text} "), encoding="utf-8") + b"\n")


# ---------------------------------------------------------------------------------------
# GraphML
# ---------------------------------------------------------------------------------------


def _graphml_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return str(value)


def write_graphml(items: Items, out: IO[bytes], comments: Sequence[str] = (),
                  name: str = "graph") -> None:
    """The graph as GraphML into a binary stream: one `<key>` per attribute name, type and
    scope (graph, node, edge) in the order first met, then the nodes and the edges, each
    written as soon as it is made. Graph attributes: the scalars only (a list or map there
    is not the graph's data but a caller's note)."""
    # Cleaned as node and edge values are (a StrEnum, a numpy number: their plain type, which
    # is the type the key is declared and looked up with).
    graph_data = {k: clean_scalar(v) for k, v in items.attributes.items()
                  if isinstance(v, (str, numbers.Real))}
    keys: dict[tuple[str, str, type], str] = {}

    def declare(scope: str, found: Iterable[tuple[str, type]]) -> None:
        for attr, kind in found:
            keys.setdefault((scope, attr, kind), f"d{len(keys)}")

    declare("graph", _attributes("graph", None, graph_data))
    seen: set[tuple[str, type]] = set()
    for node, data in items.nodes():
        _node_id(node)
        declare("node", _attributes("node", node, data, seen=seen))
    seen = set()
    shapes = _DeclaredShapes()
    for source, target, data in items.edges():
        if shapes.new(data):
            declare("edge", _attributes("edge", (source, target), data, seen=seen))
    replaced = _Replaced()

    def make(shape: Shape) -> tuple[Any, list[Any]]:
        element = etree.Element(shape[0])
        return element, [etree.SubElement(element, "data", key=key_id) for key_id in shape[2]]

    filled = _Filled(make, replaced, _graphml_text,
                     lambda scope, attr, kind: keys[(scope, attr, kind)])
    element_of = filled.element

    _prolog(out, comments)
    root = {"xmlns": NS_GRAPHML, "xmlns:xsi": NS_XSI, "xsi:schemaLocation": GRAPHML_SCHEMA}
    with etree.xmlfile(out, encoding="utf-8") as xf, xf.element("graphml", root):
        xf.write("\n")
        for (scope, attr, kind), key_id in keys.items():
            xf.write(etree.Element("key", {"id": key_id, "for": scope, "attr.name": attr,
                                           "attr.type": _TYPES[kind]}), "\n")
        with xf.element("graph", edgedefault="directed" if items.directed
                        else "undirected"):
            xf.write("\n")
            for key, value in graph_data.items():
                attr = str(key)
                element = etree.Element("data", key=keys[("graph", attr, type(value))])
                element.text = replaced.text(_graphml_text(value), "graph", None, attr)
                xf.write(element, "\n")
            for node, data in items.nodes():
                xf.write(element_of("node", {"id": _node_id(node)}, "node", node, data),
                         pretty_print=True)
            for source, target, data in items.edges():
                xf.write(element_of("edge", {"source": _node_id(source),
                                             "target": _node_id(target)},
                                    "edge", (source, target), data), pretty_print=True)
        xf.write("\n")
    out.write(b"\n")
    replaced.log(name)


# ---------------------------------------------------------------------------------------
# GEXF
# ---------------------------------------------------------------------------------------

# Written on the node or edge element, as networkx does, not as attribute values.
_NODE_SPECIAL = frozenset({"label"})
_EDGE_SPECIAL = frozenset({"id", "label", "weight"})


@dataclass
class _Declared:
    """GEXF attribute declarations of one class (node or edge): title -> (id, type)."""

    kinds: dict[str, set[type]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def add(self, found: Iterable[tuple[str, type]]) -> None:
        for title, kind in found:
            self.kinds.setdefault(title, set()).add(kind)

    def number(self, start: int) -> int:
        for n, title in enumerate(self.kinds, start):
            self.ids[title] = str(n)
        return start + len(self.kinds)

    def type_of(self, title: str) -> str:
        kinds = self.kinds[title]
        if len(kinds) == 1:
            return _TYPES[next(iter(kinds))]
        return "double" if kinds <= {int, float} else "string"


def _gexf_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
    return str(value)


def write_gexf(items: Items, out: IO[bytes], comments: Sequence[str] = (),
               name: str = "graph") -> None:
    """The graph as GEXF 1.2draft (as networkx writes it, Gephi's format) into a binary
    stream: the node and edge attribute declarations, then the nodes and the edges, each
    written as soon as it is made."""
    nodes, edges = _Declared(), _Declared()
    explicit_ids: set[str] = set()
    seen: set[tuple[str, type]] = set()
    for node, data in items.nodes():
        _node_id(node)
        nodes.add(_attributes("node", node, data, _NODE_SPECIAL, seen))
    seen = set()
    shapes = _DeclaredShapes()
    for source, target, data in items.edges():
        if shapes.new(data):
            edges.add(_attributes("edge", (source, target), data, _EDGE_SPECIAL, seen))
        if data.get("id") is not None:
            explicit_ids.add(str(clean(data["id"])))
    edges.number(nodes.number(0))
    replaced = _Replaced()

    def make(shape: Shape) -> tuple[Any, list[Any]]:
        element = etree.Element(shape[0])
        if not shape[2]:
            return element, []
        values = etree.SubElement(element, "attvalues")
        return element, [etree.SubElement(values, "attvalue", {"for": attr_id})
                         for attr_id in shape[2]]

    def ids_of(declared: _Declared) -> Callable[[str, str, type], str]:
        return lambda scope, title, kind: declared.ids[title]

    # A value goes in its element's "value", after "for" (as in the file).
    filled = {scope: _Filled(make, replaced, _gexf_text, ids_of(declared), "value", special)
              for scope, declared, special in (("node", nodes, _NODE_SPECIAL),
                                               ("edge", edges, _EDGE_SPECIAL))}

    def attribute(scope: str, item: Any, key: str, value: Any) -> str:
        """A value written as an XML attribute of the graph, node or edge element."""
        try:
            cleaned = clean(value)
        except TypeError as exc:
            raise ExportError(f"{_where(scope, item)}, attribute {key!r}: {exc}") from None
        return replaced.text(str(cleaned if cleaned is not None else ""), scope, item, key)

    _prolog(out, comments)
    root = {"xmlns": NS_GEXF, "xmlns:xsi": NS_XSI, "xsi:schemaLocation": GEXF_SCHEMA,
            "version": "1.2"}
    with etree.xmlfile(out, encoding="utf-8") as xf, xf.element("gexf", root):
        xf.write("\n")
        meta = etree.Element("meta", lastmodifieddate=dt.date.today().isoformat())
        etree.SubElement(meta, "creator").text = "hulian"
        xf.write(meta, pretty_print=True)
        graph_name = items.attributes.get("name")
        with xf.element("graph", defaultedgetype="directed" if items.directed
                        else "undirected", mode="static",
                        name=attribute("graph", None, "name", graph_name)):
            xf.write("\n")
            for scope, declared in (("node", nodes), ("edge", edges)):
                if not declared.kinds:
                    continue
                element = etree.Element("attributes", {"class": scope, "mode": "static"})
                for title, attr_id in declared.ids.items():
                    etree.SubElement(element, "attribute", id=attr_id, title=title,
                                     type=declared.type_of(title))
                xf.write(element, pretty_print=True)
            with xf.element("nodes"):
                xf.write("\n")
                for node, data in items.nodes():
                    node_id = _node_id(node)
                    label = (attribute("node", node, "label", data["label"])
                             if data.get("label") is not None else node_id)
                    xf.write(filled["node"].element("node", {"id": node_id, "label": label},
                                                    "node", node, data), pretty_print=True)
            xf.write("\n")
            with xf.element("edges"):
                xf.write("\n")
                counter = 0
                for source, target, data in items.edges():
                    edge = (source, target)
                    if data.get("id") is not None:
                        edge_id = attribute("edge", edge, "id", data["id"])
                    else:  # the next number no edge has as its own id (as networkx)
                        while str(counter) in explicit_ids:
                            counter += 1
                        edge_id, counter = str(counter), counter + 1
                    attrs = {"source": _node_id(source), "target": _node_id(target),
                             "id": edge_id}
                    for key in ("label", "weight"):
                        if data.get(key) is not None:
                            attrs[key] = attribute("edge", edge, key, data[key])
                    xf.write(filled["edge"].element("edge", attrs, "edge", edge, data),
                             pretty_print=True)
            xf.write("\n")
        xf.write("\n")
    out.write(b"\n")
    replaced.log(name)


WRITERS: dict[str, Callable[..., None]] = {"graphml": write_graphml, "gexf": write_gexf}
