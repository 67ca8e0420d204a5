"""YAML documents that remember the line of every value, so errors can name file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from operator import getitem
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when PyYAML has it: several times faster


@dataclass
class YamlDocument:
    """A parsed YAML file plus the 1-based line where each JSON-pointer path starts."""

    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    text: str = ""                       # the file as read

    def at(self, pointer: Path_) -> Any:
        """The value at `pointer`."""
        return reduce(getitem, pointer, self.data)

    def line_of(self, pointer: Path_) -> int:
        """Line of the value at `pointer`, or of its nearest ancestor that has one."""
        pointer = tuple(pointer)
        while pointer and pointer not in self.lines:
            pointer = pointer[:-1]
        return self.lines.get(pointer, 1)

    def line_showing(self, pointer: Path_, words: str) -> int:
        """The first line from the value at `pointer` on that shows `words` (a spot inside a block of text),
        else the value's own line."""
        start = self.line_of(pointer)
        found = (number for number, line in enumerate(self.text.splitlines()[start - 1:], start) if words in line)
        return next(found, start)


def read_yaml(path: Path) -> YamlDocument:
    """Parse `path`; raises yaml.YAMLError (with its own line marks) on malformed YAML. libyaml reads
    it when PyYAML has it; a file it refuses is read again by PyYAML's own parser, whose errors say
    more (what was expected, where), for cds.rulebook.yamlerrors to explain."""
    text = path.read_text(encoding="utf-8")
    try:
        node, data = _parse(text, _LOADER)
    except yaml.YAMLError:
        node, data = _parse(text, yaml.SafeLoader)
    document = YamlDocument(path=path, data=data, text=text)
    if node is not None:
        _record_lines(node, (), document.lines)
    return document


def _parse(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _record_lines(node: yaml.Node, pointer: Path_, lines: dict[Path_, int]) -> None:
    """Record where each value starts; a key written twice in one mapping is an error (YAML keeps
    only the last, silently)."""
    lines[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.value in seen:
                first = seen[key_node.value].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key_node.value}' is written twice (first on line {first})",
                    key_node.start_mark)
            seen[key_node.value] = key_node
            _record_lines(value_node, (*pointer, key_node.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*pointer, index), lines)
