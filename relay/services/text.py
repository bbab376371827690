"""Letter text: sanitised on the way in with a small allowlist, escaped on the way out."""

import difflib
import html
from dataclasses import dataclass

import bleach
from markupsafe import Markup

ALLOWED_TAGS = frozenset({"p", "br", "em", "strong", "ul", "ol", "li"})
MAX_LETTER_CHARACTERS = 20_000


def sanitise(text: str) -> str:
    """Keep only the allowlisted tags, without attributes; escape everything else."""
    cleaned = bleach.clean(
        text.replace("\r\n", "\n"), tags=ALLOWED_TAGS, attributes={}, protocols=[], strip=True
    )
    return cleaned.strip()


def for_editing(stored: str) -> str:
    """What goes back into a text box: the characters the person typed."""
    return html.unescape(stored)


def render(stored: str) -> Markup:
    """Safe HTML for a page, cleaned again so a bad row cannot inject markup."""
    # bleach has removed everything but the allowlisted tags, with no attributes.
    return Markup(sanitise(stored))  # noqa: S704  # nosec B704


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "removed" or "added"
    text: str


def difference(before: str, after: str) -> list[DiffLine]:
    """A line-by-line difference, for the author to see what a redaction changes."""
    lines: list[DiffLine] = []
    kinds = {" ": "same", "-": "removed", "+": "added"}
    for line in difflib.ndiff(for_editing(before).splitlines(), for_editing(after).splitlines()):
        if line[:1] in kinds:
            lines.append(DiffLine(kinds[line[:1]], line[2:]))
    return lines
