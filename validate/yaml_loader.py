"""Bounded YAML: PyYAML's safe loader with caps on size, nesting, alias expansion and no
duplicate keys, so a hostile validation.yaml is refused at once instead of eating memory.

PyYAML builds the document in two steps: *compose* (text to a node graph, where an alias is
a second reference to the same node) and *construct* (nodes to Python objects). Every
limit is checked while composing or on the finished graph, before anything is constructed,
so an alias bomb ("billion laughs") is measured without ever being expanded.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1024 * 1024  # a validation.yaml is a few kilobytes; 1 MiB is generous
MAX_DEPTH = 100  # nesting, counted through aliases
MAX_NODES = 100_000  # values once every alias is expanded
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SHOWN = 40  # characters of a key or value quoted in a message


class YamlLimitError(yaml.MarkedYAMLError):
    """Well-formed YAML over a limit, or with a repeated key; ``problem`` says how to fix it."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def clip(text: str, limit: int = _SHOWN) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for quoting user input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses deep, huge or alias-bombed documents and duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Count nesting and nodes as they are read, and stop at the first one over a cap."""
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(
                    f"nested more than {MAX_DEPTH} levels deep; a validation.yaml needs a few",
                    self.peek_event().start_mark,
                )
            if self._composed > MAX_NODES:
                raise YamlLimitError(
                    f"more than {MAX_NODES:,} values; a validation.yaml needs a few hundred",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)  # type: ignore[return-value]
        finally:
            self._depth -= 1

    # types-PyYAML types the argument as a dict; PyYAML passes the node's anchor.
    def compose_mapping_node(self, anchor: str | None) -> MappingNode:  # type: ignore[override]
        node = super().compose_mapping_node(anchor)  # type: ignore[arg-type]
        self._reject_duplicate_keys(node)
        return node

    def get_single_node(self) -> Node | None:
        """The composed document, checked for alias expansion before it is constructed."""
        node = super().get_single_node()
        if node is not None:
            check_expansion(node)
        return node

    def _reject_duplicate_keys(self, node: MappingNode) -> None:
        """A repeated key would silently replace the first value (``min: 0.99`` … ``min: 0.1``)."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self._scalar_identity(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlLimitError(
                    f"duplicate key '{clip(str(key_node.value))}' (first at line {seen[key]}); "
                    "keep one of them",
                    key_node.start_mark,
                )
            seen[key] = line

    def _scalar_identity(self, node: ScalarNode) -> Any:
        """The key as the dict will see it (``1`` and ``1.0``, ``yes`` and ``true`` collide)."""
        constructor = self.yaml_constructors.get(node.tag)
        try:
            value = constructor(self, node) if constructor else node.value
            hash(value)
        except Exception:  # noqa: BLE001 - construction reports bad scalars itself, later
            return (node.tag, node.value)
        return value


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: Node) -> None:
    """Refuse a node graph whose expansion (every alias copied out) is too big or too deep,
    or that refers to itself. Linear in the graph's size: each node is measured once.

    Raises
    ------
    YamlLimitError
        At the node that goes over a limit.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            measured[key] = _measure(node, measured)
            continue
        if key in measured:
            continue
        if key in open_nodes:
            raise YamlLimitError(
                "an alias refers to the node that contains it; remove the recursive alias",
                node.start_mark,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in measured)


def _measure(node: Node, measured: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """Expanded size and depth of ``node`` from its (already measured) children."""
    children = [measured[id(child)] for child in _children(node)]
    size = 1 + sum(s for s, _ in children)
    depth = 1 + max((d for _, d in children), default=0)
    if size > MAX_NODES:
        raise YamlLimitError(
            f"aliases expand to more than {MAX_NODES:,} values; write the values out or "
            "use fewer aliases",
            node.start_mark,
        )
    if depth > MAX_DEPTH:
        raise YamlLimitError(
            f"aliases nest more than {MAX_DEPTH} levels deep; write the values out",
            node.start_mark,
        )
    return size, depth


def load(text: str) -> Any:
    """Parse one YAML document with :class:`BoundedLoader` (``yaml.safe_load`` with limits).

    Raises
    ------
    yaml.YAMLError
        Malformed YAML, or :class:`YamlLimitError` for a document over a limit.
    """
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
