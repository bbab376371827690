"""Letter text is plain text: stored exactly as typed, escaped on the way out.

A letter is what a person typed, so nothing in it is markup and nothing is
removed: `<every day>` or `a < b` must reach the reader as written. Safety
comes from escaping every character when a page shows it; the only elements on
the page are the paragraphs and line breaks that `render` adds itself.
"""

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from markupsafe import Markup
from markupsafe import escape

# The only elements render() writes; everything typed is escaped text.
RENDERED_TAGS = frozenset({"p", "br"})


def sanitise(text: str) -> str:
    """Normalise typed plain text for storing; nothing is stripped out or escaped.

    Line endings become "\\n" and whitespace at the two ends is trimmed. Every
    other character is kept as typed, angle brackets and ampersands included.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def for_editing(stored: str) -> str:
    """What goes back into a text box: the stored text, which is what was typed."""
    return stored


def _paragraphs(text: str) -> Iterator[list[str]]:
    """Lines grouped into paragraphs; a blank (or whitespace-only) line ends one."""
    paragraph: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            yield paragraph
            paragraph = []
    if paragraph:
        yield paragraph


def render(stored: str) -> Markup:
    """Safe HTML for a page: a blank line starts a paragraph, a newline is a line break."""
    # str() first: a value that is already Markup would otherwise skip escaping.
    plain = str(stored).replace("\r\n", "\n").replace("\r", "\n")
    # Markup.join escapes each line; only the <p> and <br> written here are markup.
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in paragraph))
        for paragraph in _paragraphs(plain)
    )


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "removed" or "added"
    text: str


def difference(before: str, after: str) -> list[DiffLine]:
    """A line-by-line difference, for the author to see what a redaction changes."""
    lines: list[DiffLine] = []
    kinds = {" ": "same", "-": "removed", "+": "added"}
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line[:1] in kinds:
            lines.append(DiffLine(kinds[line[:1]], line[2:]))
    return lines
