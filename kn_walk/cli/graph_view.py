"""Drawing a Service's object graph (:mod:`kn_walk.graph`) as a tree, like ``kubectl tree``.

Works on the graph *document* (the ``-o json`` shape), so ``knwalk status
--graph`` and the tour's picture draw the same thing from the same data.

Each object appears once. It sits under its owner (``ownerReferences``); an
object nothing in the graph owns sits under what refers to it, marked ``→``
(a Gateway under the VirtualService that names it, the Gateway's Service under
the Gateway, Endpoints under their Service). Other references are lines of
their own that start or contain ``→`` (``50% → helloworld-go-00002 (tag
current)`` under the Route). Every object says its readiness, what it is for
and its state; where the chain breaks, a ``✗`` line says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree

    from kn_walk.kube import Kube

Doc = Mapping[str, Any]
#: extra text for a node: (appended to its first line, replacement for its detail or None)
Annotate = Callable[[Doc], tuple[str, str | None]]

_OWNER, _REFERENCE = "owner", "reference"


def readiness(node: Doc) -> str:
    """``Ready=True``, ``Ready=False NoTraffic``, ... ("" for kinds without readiness)."""
    ready = node.get("ready")
    if ready is None:
        return ""
    reason = node.get("reason") if ready != "True" else ""
    return f"Ready={ready}" + (f" {reason}" if reason else "")


def _label(
    node: Doc, linked: bool, annotate: Annotate | None, root: bool, role: bool, namespace: str
) -> str:
    kind = "Knative Service" if root else node["kind"]
    suffix, detail = annotate(node) if annotate else ("", None)
    name = node["name"] if node["namespace"] == namespace else f"{node['namespace']}/{node['name']}"
    first = f"{'→ ' if linked else ''}{kind} {name}{suffix}"
    if node.get("missing"):
        first += "  (not found)"
    elif readiness(node):
        first += f"  {readiness(node)}"
    lines = [first]
    if role and node.get("role"):
        lines.append(node["role"])
    shown = node.get("detail", "") if detail is None else detail
    if shown:
        lines.append(shown)
    if node.get("problem"):
        lines.append(f"✗ {node['problem']}")
    return "\n".join(lines)


def layout(doc: Doc) -> dict[str, list[tuple[str, bool]]]:
    """Each node id → its children in the tree: (child id, placed by a reference).

    Owners first: a node goes under the first of its owners that is in the
    graph. A node nothing owns goes under what refers to it (Endpoints under
    the Service they are the addresses of); the root keeps whatever is left.
    """
    nodes = {n["id"]: n for n in doc["nodes"]}
    owned: dict[str, list[str]] = {}
    refs_in: dict[str, list[str]] = {}
    refs_out: dict[str, list[str]] = {}
    for e in doc["edges"]:
        if e["from"] not in nodes or e["to"] not in nodes:
            continue
        if e["kind"] == _OWNER:
            owned.setdefault(e["from"], []).append(e["to"])
        else:
            refs_in.setdefault(e["to"], []).append(e["from"])
            refs_out.setdefault(e["from"], []).append(e["to"])
    has_owner = {child for kids in owned.values() for child in kids}
    children: dict[str, list[tuple[str, bool]]] = {nid: [] for nid in nodes}
    placed: set[str] = set()

    def place(parent: str, child: str, linked: bool) -> bool:
        if child in placed or child == parent:
            return False
        placed.add(child)
        children[parent].append((child, linked))
        return True

    root = doc["root"]
    placed.add(root)
    queue = [root]
    while queue:
        current = queue.pop(0)
        for child in owned.get(current, []):
            if place(current, child, False):
                queue.append(child)
        for target in refs_out.get(current, []):
            # a node nothing owns, referred to by this one: the Gateway under its VirtualService
            if (
                target not in has_owner
                and nodes[current]["kind"] != "Endpoints"
                and place(current, target, True)
            ):
                queue.append(target)
        for source in refs_in.get(current, []):
            # Endpoints nothing owns go under the Service they give addresses to
            if (
                source not in has_owner
                and nodes[source]["kind"] == "Endpoints"
                and place(current, source, True)
            ):
                queue.append(source)
    order = {nid: i for i, nid in enumerate(nodes)}
    for nid in sorted(set(nodes) - placed, key=order.__getitem__):
        children[root].append((nid, True))
    for kids in children.values():
        kids.sort(key=lambda kid: order[kid[0]])
    return children


def tree(doc: Doc, annotate: Annotate | None = None) -> Tree:
    """The graph as a rich Tree; reference lines come before a node's children. A role
    is said once: objects further down with the same role show only their state."""
    from rich.text import Text
    from rich.tree import Tree

    nodes = {n["id"]: n for n in doc["nodes"]}
    children = layout(doc)
    shown_under = {kid: parent for parent, kids in children.items() for kid, _ in kids}
    roles: set[str] = set()

    def label(nid: str, linked: bool, root: bool = False) -> Text:
        node = nodes[nid]
        new = node.get("role", "") not in roles
        roles.add(node.get("role", ""))
        return Text(_label(node, linked, annotate, root, new, doc["namespace"]))

    def add(parent: Tree, nid: str) -> None:
        for e in doc["edges"]:
            if e["kind"] != _REFERENCE or e["from"] != nid:
                continue
            if shown_under.get(e["to"]) == nid or shown_under.get(nid) == e["to"]:
                continue  # drawn as the child itself, or the node sits under its target
            parent.add(Text(e["label"]))
        for kid, linked in children[nid]:
            add(parent.add(label(kid, linked)), kid)

    top = Tree(label(doc["root"], False, True))
    add(top, doc["root"])
    return top


def footer(doc: Doc) -> list[str]:
    """What the tree cannot show: kinds not installed or not readable, and none found."""
    lines = []
    by_status: dict[str, list[str]] = {}
    for k in doc["kinds"]:
        if k["status"] != "read":
            by_status.setdefault(k["status"], []).append(k["kind"])
        elif k["count"] == 0:
            by_status.setdefault("none", []).append(k["kind"])
    if by_status.get("not installed"):
        lines.append(f"Not installed on this cluster: {', '.join(by_status['not installed'])}.")
    if by_status.get("forbidden"):
        lines.append(f"Not readable with your permissions: {', '.join(by_status['forbidden'])}.")
    if by_status.get("none"):
        lines.append(f"None for this Service: {', '.join(by_status['none'])}.")
    broken = [n for n in doc["nodes"] if n.get("problem")]
    if broken:
        lines.append(f"Where the chain breaks ({len(broken)}):")
        for n in broken:
            kind = "Knative Service" if n["id"] == doc["root"] else n["kind"]
            lines.append(f"  {kind} {n['name']}: {n['problem']}")
    return lines


def print_graph(out: Console, doc: Doc, annotate: Annotate | None = None) -> None:
    """The tree, then :func:`footer`'s lines."""
    out.print(tree(doc, annotate))
    extra = footer(doc)
    if extra:
        out.print()
    import textwrap

    from rich.text import Text

    for line in extra:
        indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
        for part in textwrap.wrap(line, out.width, subsequent_indent=indent) or [""]:
            out.print(Text(part), soft_wrap=True)


def print_graphs(out: Console, docs: Sequence[Doc]) -> None:
    for i, doc in enumerate(docs):
        if i:
            out.print()
        print_graph(out, doc)


def show(kube: Kube, service: str | None, fmt: str, all_namespaces: bool) -> None:
    """``knwalk status [NAME] --graph``: read the graph(s) and print them in ``fmt``."""
    from kn_walk import graph
    from kn_walk.kube import ALL_NAMESPACES
    from kn_walk.render import console, emit

    if service is not None:
        doc = graph.read(kube, service).document()
        if fmt != "table":
            emit(doc, fmt)
            return
        print_graph(console(), doc)
        return
    docs = [g.document() for g in graph.read_all(kube, ALL_NAMESPACES if all_namespaces else None)]
    if fmt != "table":
        emit({"items": docs}, fmt)
        return
    out = console()
    if not docs:
        from kn_walk.cli.printers import no_services

        no_services(out, all_namespaces, kube.namespace)
        return
    print_graphs(out, docs)
