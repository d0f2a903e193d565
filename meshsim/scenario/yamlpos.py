"""YAML with positions: plain Python data plus the line of every key and item.

`yaml.safe_load` forgets where things were; to tell a user *which line* is
wrong we compose the node graph ourselves, record the 1-based line of each
mapping key and sequence item under its path (``("phases", 1, "duration")``),
then construct the data from the same nodes.

A scenario file is input from anyone, so every way PyYAML can fail becomes a
`ScenarioError` with a line: bytes YAML forbids (NUL, raw ESC), nesting deep
enough to exhaust Python's stack, alias bombs, values the constructor cannot
build (a 5,000-digit integer, the 30th of February), and text holding control
characters (an ANSI escape written as "\\e[" would repaint the terminal).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshsim.errors import ScenarioError

YamlPath = tuple[object, ...]

# A document bigger than this (counting alias expansions) is rejected rather
# than walked: it guards against "billion laughs" alias bombs.
MAX_NODES = 20_000
# PyYAML composes (and we walk) recursively, a few Python frames a level; a
# real scenario nests about 12 levels (phases[0].apply[0].spec.http[0]...).
MAX_DEPTH = 64
# One key or value; a description of a few paragraphs is a few thousand.
MAX_SCALAR = 65_536
_MERGE_TAG = "tag:yaml.org,2002:merge"
# C0 and C1 controls but tab and newline, DEL, bidirectional overrides and
# isolates (they reorder what a terminal shows), and lone surrogates (they
# cannot be printed or encoded at all).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


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

    libyaml (PyYAML's C parser) parses when it is there: some 15 times faster,
    which keeps `validate` of a file at the size cap well under a second. A
    file it finds invalid is parsed again by the Python parser, whose messages
    the hints below know, when it is small enough for that to be quick.

    >>> doc = parse_yaml("name: demo\\nphases:\\n  - name: a\\n")
    >>> doc.lines[("phases", 0, "name")]
    3
    """
    try:
        # The Python reader checks every character (NUL, a raw ESC) when it is built.
        checked = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, file, text) from None
    if _CLoader is None:
        return _parse(checked, text, file)
    checked.dispose()
    try:
        _check_depth(text, file)
        return _parse(_CLoader(text), text, file)
    except ScenarioError as exc:
        if exc.detail.startswith("invalid YAML") and len(text) <= _REPARSE_MAX:
            return _parse(_Loader(text), text, file)
        raise


def parse_yaml_all(text: str, file: str = "<string>") -> list[Located]:
    """Parse every document of a multi-document YAML stream (`---` between
    them, as Kubernetes manifests are), keeping lines counted from the top of
    the file; empty documents are left out. The same guards as `parse_yaml`.

    >>> [d.lines[("kind",)] for d in parse_yaml_all("kind: A\n---\nkind: B\n")]
    [1, 3]
    """
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, file, text) from None
    out: list[Located] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            walker = _Walker(loader, file)
            walker.lines[()] = node.start_mark.line + 1
            walker.walk(node, ())
            data = loader.construct_document(node)
            if data is not None:
                out.append(Located(data, walker.lines))
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file, text) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep", file=file) from None
    finally:
        loader.dispose()
    return out


# A file libyaml rejects is parsed again by the Python parser up to this size.
_REPARSE_MAX = 32 * 1024


def _parse(loader: _Loader | _CLoaderType, text: str, file: str) -> Located:
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
    except RecursionError:  # MAX_DEPTH should prevent it; never a traceback if not
        raise ScenarioError(
            f"nested too deeply; a scenario nests at most {MAX_DEPTH} levels", file=file
        ) from None
    finally:
        loader.dispose()


def _check_depth(text: str, file: str) -> None:
    """libyaml composes recursively in C, where a deep document would overflow
    the stack: its events (an iteration, nothing recursive) are read first."""
    assert _CLoader is not None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_CLoader):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ScenarioError(
                        f"invalid YAML: nested more than {MAX_DEPTH} levels deep",
                        file=file,
                        line=event.start_mark.line + 1 if event.start_mark else None,
                    )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file, text) from None


class _SafeConstruct(yaml.constructor.SafeConstructor):
    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Every value the constructor cannot build is a YAML error with a place."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, OverflowError, TypeError) as exc:
            # e.g. a 5,000-digit integer (Python's conversion limit) or 2024-02-30
            value = node.value if isinstance(node.value, str) else ""
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise ConstructorError(
                None, None, f"cannot read the value {shown!r}: {exc}", node.start_mark
            ) from None


class _Loader(_SafeConstruct, yaml.SafeLoader):
    """PyYAML's safe loader with the nesting it composes bounded."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


if hasattr(yaml, "CSafeLoader"):

    class _CLoaderType(_SafeConstruct, yaml.CSafeLoader):
        """libyaml's parser and composer; see `_check_depth`."""

    _CLoader: type[_CLoaderType] | None = _CLoaderType
else:  # PyYAML built without libyaml
    _CLoader = None


class _Walker:
    """Records lines and checks keys and text, once per node: a node used again
    through an alias is not walked again (its lines are those of its anchor;
    below the alias, an error names the alias's line), but its size counts
    each time, so an alias bomb is caught without expanding it."""

    def __init__(self, loader: _Loader | _CLoaderType, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[YamlPath, int] = {}
        self.count = 0
        self.sizes: dict[int, int] = {}  # id(node) → values under it, aliases expanded
        self.stack: set[int] = set()

    def walk(self, node: Node, path: YamlPath) -> None:
        if id(node) in self.stack:
            raise ScenarioError(
                "an alias refers to a node that contains it; a scenario cannot be recursive",
                file=self.file,
                line=node.start_mark.line + 1,
            )
        size = self.sizes.get(id(node))
        if size is not None:
            self._add(size, node)
            return
        before = self.count
        self._add(1, node)
        self.stack.add(id(node))
        if isinstance(node, ScalarNode):
            self._text(node, path)
        elif isinstance(node, MappingNode):
            self._mapping(node, path)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                self.walk(item, (*path, index))
        self.stack.discard(id(node))
        self.sizes[id(node)] = self.count - before

    def _add(self, size: int, node: Node) -> None:
        self.count += size
        if self.count > MAX_NODES:
            raise ScenarioError(
                f"the document has more than {MAX_NODES:,} values, counting each use of an "
                "alias (*name); a scenario needs far fewer (an alias bomb?)",
                file=self.file,
                line=node.start_mark.line + 1,
            )

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
        self._text(node, ())
        key: object = self.loader.construct_object(node)
        return key

    def _text(self, node: ScalarNode, path: YamlPath) -> None:
        """Text in a scenario is printable: it reaches terminals, logs and reports."""
        value: str = node.value
        line = node.start_mark.line + 1
        if len(value) > MAX_SCALAR:
            raise ScenarioError(
                f"a value of {len(value):,} characters; at most {MAX_SCALAR:,} are allowed",
                file=self.file,
                line=line,
                field=render_path(path) or None,
            )
        bad = _CONTROL.search(value)
        if bad is not None:
            raise ScenarioError(
                f"contains {describe_char(bad.group())}, a control character; text in a "
                "scenario must be printable (tabs and line breaks are fine where text "
                "may span lines)",
                file=self.file,
                line=line,
                field=render_path(path) or None,
            )


def describe_char(char: str) -> str:
    """`U+001B (ESCAPE)`: a character named so a person can find it."""
    name = unicodedata.name(char, "")
    name = name or _C0_NAMES.get(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


# unicodedata has no names for control characters; these are the ones people meet.
_C0_NAMES = {"\x00": "NUL", "\x07": "BELL", "\x08": "BACKSPACE", "\x0b": "VERTICAL TAB",
             "\x0c": "FORM FEED", "\r": "CARRIAGE RETURN", "\x1b": "ESCAPE",
             "\x7f": "DELETE", "\x9b": "CONTROL SEQUENCE INTRODUCER"}  # fmt: skip


def _reader_error(exc: yaml.reader.ReaderError, file: str, text: str) -> ScenarioError:
    """A character YAML does not allow anywhere in a file, such as NUL or a raw ESC."""
    char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    line = text.count("\n", 0, exc.position) + 1
    hint = (
        "; the file looks like UTF-16 without a byte-order mark: save it as UTF-8"
        if char == "\x00" and "\x00" in text[:4]
        else "; remove it (escape sequences belong in no scenario)"
    )
    return ScenarioError(
        f"invalid YAML: the file contains {describe_char(char)}, which YAML does not allow" + hint,
        file=file,
        line=line,
    )


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


def decode(data: bytes, file: str) -> str:
    """Scenario bytes as text: UTF-8, or UTF-16/32 when a byte-order mark says so
    (as YAML 1.2 allows; Windows editors save UTF-16). ScenarioError naming the
    line of the first byte that is not UTF-8."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                raise ScenarioError(
                    f"starts with a {codec.upper()} byte-order mark but is not {codec.upper()} "
                    "text; save it as UTF-8",
                    file=file,
                ) from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # UTF-8's mark: positions below count after it
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(
            f"is not UTF-8 text: byte {data[exc.start]:#04x} cannot start or continue a "
            "character here; save the file as UTF-8",
            file=file,
            line=line,
        ) from None


# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def split_path(relative: str) -> YamlPath:
    """`spec.http[0].route` → ("spec", "http", 0, "route")."""
    parts: list[object] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", relative.replace("[key]", "")):
        parts.append(int(index) if index else name)
    return tuple(parts)
