"""YAML with positions: plain Python data plus the line of every key and item.

`yaml.safe_load` forgets where things were; to tell a user *which line* is
wrong we compose the node graph ourselves, record the 1-based line of each
mapping key and sequence item under its path (``("phases", 1, "duration")``),
then construct the data from the same nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshsim.errors import ScenarioError

YamlPath = tuple[object, ...]

# A document bigger than this (counting alias expansions) is rejected rather
# than walked: it guards against "billion laughs" alias bombs.
_MAX_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Located:
    """Parsed YAML: `data` as `yaml.safe_load` would give it, `lines` by path."""

    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line_of(self, path: YamlPath) -> int:
        """The line of `path`, or of its nearest ancestor that has one (1 at worst)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def parse_yaml(text: str, file: str = "<string>") -> Located:
    """Parse one YAML document, keeping lines; raise ScenarioError on bad YAML.

    >>> doc = parse_yaml("name: demo\\nphases:\\n  - name: a\\n")
    >>> doc.lines[("phases", 0, "name")]
    3
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located(None, {})
        walker = _Walker(loader, file)
        walker.lines[()] = node.start_mark.line + 1
        walker.walk(node, ())
        data = loader.construct_document(node)
        return Located(data, walker.lines)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file, text) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[YamlPath, int] = {}
        self.count = 0
        self.stack: set[int] = set()

    def walk(self, node: Node, path: YamlPath) -> None:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ScenarioError("document too large (too many aliases?)", file=self.file)
        if id(node) in self.stack:
            raise ScenarioError(
                "an alias refers to a node that contains it; a scenario cannot be recursive",
                file=self.file,
                line=node.start_mark.line + 1,
            )
        self.stack.add(id(node))
        if isinstance(node, MappingNode):
            self._mapping(node, path)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                self.walk(item, (*path, index))
        self.stack.discard(id(node))

    def _mapping(self, node: MappingNode, path: YamlPath) -> None:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ScenarioError(
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    file=self.file,
                    line=line,
                    field=render_path((*path, key)),
                )
            seen[key] = line
        # Resolve "<<: *anchor" merges the way the constructor will, so that
        # merged keys get the line of their anchor and own keys win.
        self.loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self._key(key_node)
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            self.walk(value_node, (*path, key))

    def _key(self, node: Node) -> object:
        if not isinstance(node, ScalarNode):
            raise ScenarioError(
                "a key must be a plain value, not a list or mapping",
                file=self.file,
                line=node.start_mark.line + 1,
            )
        key: object = self.loader.construct_object(node)
        return key


def render_path(path: YamlPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str = "") -> ScenarioError:
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or 'cannot parse'}"
    if exc.context:
        context = exc.context
        if exc.context_mark is not None and exc.context_mark.line != getattr(mark, "line", None):
            context += f" on line {exc.context_mark.line + 1}"
        message += f" ({context})"
    hint = _hint(exc, text.splitlines())
    if hint:
        message += f"; {hint}"
    return ScenarioError(message, file=file, line=mark.line + 1 if mark else None)


_KEY_WITHOUT_SPACE = re.compile(r"^\s*(?:-\s+)?[\w.-]+:[^\s:/]")


def _hint(exc: yaml.MarkedYAMLError, lines: list[str]) -> str | None:
    """PyYAML's most common complaints in plain words: what to look for and where."""
    problem = exc.problem or ""
    at = exc.problem_mark.line if exc.problem_mark is not None else None
    opened = exc.context_mark.line + 1 if exc.context_mark is not None else None
    line = lines[at] if at is not None and at < len(lines) else ""
    if "\\t" in problem or "\t" in problem:  # PyYAML shows the tab as '\\t'
        return "indent with spaces, YAML does not allow tabs"
    if "cannot start any token" in problem:
        return 'a value starting with this character must be quoted, e.g. path: "@v2"'
    if problem.startswith("expected <block end>"):
        if re.match(r"^\s*-[^\s-]", line):
            return "a list item needs a space after its '-' (- name: a, not -name: a)"
        return (
            "wrong indentation: this line does not line up with the lines it belongs to; "
            "the keys of one mapping, and the '- ' items of one list, start in the same column"
        )
    if problem == "mapping values are not allowed here":
        if re.search(r":\s.*:(\s|$)", line.lstrip("- ")):
            return "a value that contains ': ' must be quoted, e.g. description: \"note: this\""
        previous = next((ln for ln in reversed(lines[: at or 0]) if ln.strip()), "")
        if _KEY_WITHOUT_SPACE.match(previous):
            return "the line above has no space after its ':'; write key: value, not key:value"
        return (
            "wrong indentation: this key is indented deeper than the key above it "
            "(or the line above is missing a ':' or the space after it)"
        )
    if problem == "could not find expected ':'":
        where = f"line {opened}" if opened else "a line"
        return f"{where} has no ':' after its key; write key: value, e.g. duration: 5s"
    if "end of stream" in problem and "quoted scalar" in (exc.context or ""):
        return f"the quote opened on line {opened} is never closed"
    if problem.startswith("expected ',' or ']'"):
        return (
            f"the '[' opened on line {opened} is not closed with ']' "
            "(or a ',' is missing between two items)"
        )
    if problem.startswith("expected ',' or '}'"):
        return (
            f"the '{{' opened on line {opened} is not closed with '}}' "
            "(or a ',' is missing between two entries)"
        )
    return None
