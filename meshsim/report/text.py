"""Text from a run made safe for each output: terminal, XML, HTML, Markdown.

A scenario's name, a phase name, an error or a span's name may hold control
characters (ESC sequences that recolour a terminal or fake a " PASS " line,
NUL, CR) and markup. Every writer shows them, visibly escaped as `\\x1b`,
rather than passing them through: the same text in every format, and nothing
that an XML parser rejects (XML 1.0 forbids most C0 characters, which made
junit.xml unwritable) or a terminal obeys.
"""

from __future__ import annotations

import html
import re

# C0 controls but tab and newline, DEL and C1, Unicode line/paragraph separators,
# bidi embeddings, overrides and isolates (they reorder what a line seems to say),
# and what XML 1.0 forbids beyond those (surrogates, U+FFFE, U+FFFF).
_CONTROLS = (
    r"\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
)
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_OR_NEWLINE = re.compile(f"[\\n{_CONTROLS}]")
# CommonMark: any ASCII punctuation may be backslash-escaped. These start markup
# anywhere in a line: emphasis, code, links, strikethrough, and `<`/`&` only
# where they open an HTML tag or an entity ("p99 < 300ms" stays as it is). A
# table cell escapes its pipes itself (markdown.py), code spans included.
_MARKDOWN = re.compile(r"([\\`*_\[\]~]|<(?=[A-Za-z/!?])|&(?=[#A-Za-z]))")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character shown escaped (`\\x1b`); tabs and
    newlines kept. Valid in XML 1.0 and harmless in a terminal."""
    return _CONTROL.sub(_escape, text)


def one_line(text: str) -> str:
    """`text` on one line: control characters and newlines shown escaped."""
    return _CONTROL_OR_NEWLINE.sub(_escape, text)


def html_text(text: str) -> str:
    """For HTML and SVG: markup escaped (quotes too), control characters visible."""
    return html.escape(visible(text))


def markdown_text(text: str) -> str:
    """A name or message inside Markdown: one line, control characters
    visible, every character that would start markup backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


def markdown_code(text: str) -> str:
    """An inline code span that holds `text` whatever backticks it contains."""
    text = one_line(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
