"""Letter text is plain text: stored exactly as typed, escaped on the way out.

A letter is what a person typed, so nothing in it is markup and nothing is
removed: `<every day>` or `a < b` must reach the reader as written. Safety
comes from escaping every character when a page shows it; the only elements on
the page are the paragraphs and line breaks that `render` adds itself.
`difference` gives plain text too; templates/party/_difference.html marks it up.
"""

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup
from markupsafe import escape

# The only elements render() and render_marked() write; everything typed is escaped text.
RENDERED_TAGS = frozenset({"p", "br", "mark", "span"})


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


def render_marked(stored: str, marks: list[tuple[int, int]]) -> Markup:
    """`render`, with each (start, end) span of the text marked and numbered from 1: the
    number is printed beside the mark, so a flag is found without seeing colour. Spans
    are offsets in the stored text and do not overlap; one that crosses a line break is
    marked on each line."""
    plain = str(stored).replace("\r\n", "\n").replace("\r", "\n")
    lines: list[tuple[str, list[Markup]]] = [("", [])]

    def add(piece: str, number: int | None) -> None:
        for index, part in enumerate(piece.split("\n")):
            if index:
                lines.append(("", []))
            if not part:
                continue
            raw, html = lines[-1]
            shown = escape(part)
            if number is not None:
                shown = Markup('<mark class="flag">{}</mark>').format(shown)
            lines[-1] = (raw + part, [*html, shown])
        if number is not None:
            lines[-1][1].append(Markup('<span class="flag-number"> [{}]</span>').format(number))

    position = 0
    for number, (start, end) in enumerate(sorted(marks), 1):
        add(plain[position:start], None)
        add(plain[start:end], number)
        position = end
    add(plain[position:], None)
    paragraphs: list[list[Markup]] = []
    current: list[Markup] = []
    for raw, html in lines:
        if raw.strip():
            current.append(Markup("").join(html))
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(paragraph)) for paragraph in paragraphs
    )


Kind = Literal["same", "removed", "added"]

# Words and the whitespace between them, each a token, so the whitespace keeps its place.
_TOKENS = re.compile(r"\s+|\S+")


@dataclass(frozen=True)
class Segment:
    kind: Kind
    text: str  # plain text as typed; a "\n" in it is a line break


@dataclass(frozen=True)
class Difference:
    """What a redaction changes, paragraph by paragraph, for the author to judge."""

    paragraphs: tuple[tuple[Segment, ...], ...]
    removals: int  # runs of words taken out
    additions: int  # runs of words put in

    def __iter__(self) -> Iterator[Segment]:
        """Every segment, paragraph after paragraph."""
        return (segment for paragraph in self.paragraphs for segment in paragraph)


def _is_paragraph_break(token: str) -> bool:
    # As in render(): a blank (or whitespace-only) line ends a paragraph.
    return token.isspace() and token.count("\n") > 1


def _spans(before: list[str], after: list[str]) -> list[tuple[bool, int, int, int, int]]:
    """Runs of tokens, each changed or not, with the spaces between two edits taken into them.

    Otherwise "at 12 Example Street" -> "somewhere else" would show as two edits
    around an unchanged space, which reads as nonsense.
    """
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    spans: list[tuple[bool, int, int, int, int]] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        # The matcher never puts two edits side by side, so an equal run inside is between two.
        between_edits = 0 < index < len(opcodes) - 1 and "".join(before[i1:i2]).isspace()
        changed = tag != "equal" or between_edits
        if changed and spans and spans[-1][0]:
            spans[-1] = (True, spans[-1][1], i2, spans[-1][3], j2)
        else:
            spans.append((changed, i1, i2, j1, j2))
    return spans


def difference(before: str, after: str) -> Difference:
    """A word-by-word difference, for the author to see what a redaction changes.

    A replaced run of words gives a removed segment, then an added one. A change of
    whitespace alone (spacing, lines joined or split) is not a change of what the
    letter says: it is shown as the suggested version lays it out, unmarked.
    """
    # str() first, as in render(): segments are escaped when shown, never trusted.
    old = _TOKENS.findall(str(before).replace("\r\n", "\n").replace("\r", "\n"))
    new = _TOKENS.findall(str(after).replace("\r\n", "\n").replace("\r", "\n"))
    marked: list[tuple[Kind, str]] = []
    removals = additions = 0
    for changed, i1, i2, j1, j2 in _spans(old, new):
        taken, put = old[i1:i2], new[j1:j2]
        if not changed or "".join(taken + put).isspace():
            marked += [("same", token) for token in put]
            continue
        removals += bool(taken)
        additions += bool(put)
        marked += [("removed", token) for token in taken] + [("added", token) for token in put]
    return Difference(_into_paragraphs(marked), removals, additions)


def _into_paragraphs(marked: list[tuple[Kind, str]]) -> tuple[tuple[Segment, ...], ...]:
    paragraphs: list[tuple[Segment, ...]] = []
    paragraph: list[Segment] = []
    for kind, token in [*marked, ("same", "\n\n")]:
        if _is_paragraph_break(token):
            if paragraph:
                paragraphs.append(tuple(paragraph))
            paragraph = []
        elif paragraph and paragraph[-1].kind == kind:
            paragraph[-1] = Segment(kind, paragraph[-1].text + token)
        else:
            paragraph.append(Segment(kind, token))
    return tuple(paragraphs)
