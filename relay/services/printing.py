"""The PDFs for a party who takes part on paper: an approved letter, and a cover sheet.

Both are made on request, in memory, from plain values, and returned as bytes: nothing here
knows of Flask or the database, and nothing is written to disk (a printed letter is letter
text in clear, so it is never stored; the page that serves it sends it `no-store`).

Why ReportLab rather than WeasyPrint: ReportLab installs from pip as wheels and needs no
system library, so `make install` is enough on any machine, while WeasyPrint needs Pango and
its fonts from Debian. A letter is paragraphs of plain text, which ReportLab's flowables lay
out across pages without an HTML and CSS engine; and with no HTML in the way there is no
markup to interpret, no stylesheet or image to fetch, and nothing that could become a link.

The font is DejaVu Sans, shipped in relay/data/fonts with its licence, so a fresh machine
prints the same letter without any package from Debian. It covers Latin (accents, ß, ø, ł,
ő and the rest of Latin Extended), Greek, Cyrillic and the typographic marks people type
(curly quotes, dashes, ellipsis, €, £). A character it lacks (Chinese, most emoji) does
not stop the letter or shift its words: it prints as the font's empty box, so the reader
sees that something was there, though the PDF's text layer does not give it back.
`missing_glyphs` names those characters, so a page can warn the facilitator before they
print (and they can read that part with the recipient, or ask the author to rephrase).

What may be printed is only what the recipient may see: display names (never a real name),
the date, the letter's own reference and its text. The reference is the letter's, not the
case's: the case reference names the case in the service's records, and on paper that
passes through a prison or a post room it would tie the recipient to a case file; the
letter reference finds this one letter when someone quotes it back, and says nothing else.
The cover sheet is for the post room: who it goes to, where it comes back to, the reference
and the number of pages. It carries no word of the letter and no display name.

Letter text is plain text (relay.services.text): every character is printed as typed, so
"<b>" prints those three characters. Blank lines separate paragraphs, a newline breaks a
line, and runs of spaces become one space, as on the letter's page.
"""

import functools
import html
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path

from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import HRFlowable
from reportlab.platypus import Paragraph
from reportlab.platypus import SimpleDocTemplate
from reportlab.platypus import Spacer

from relay.services.errors import InvalidInput

FONT_FILE = Path(__file__).resolve().parent.parent / "data" / "fonts" / "DejaVuSans.ttf"
FONT = "RelaySans"
# The only metadata a printed PDF carries: no author, creator or producer that could name
# a person, a service or the software.
TITLE = "Letter"

_MARGIN = 25 * mm
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=12, leading=17, spaceAfter=10)
_LABEL = ParagraphStyle("label", fontName=FONT, fontSize=12, leading=17, alignment=TA_LEFT)
_HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=20, leading=26, spaceAfter=12)
_ADDRESS = ParagraphStyle("address", fontName=FONT, fontSize=16, leading=22)
_SMALL = ParagraphStyle("small", fontName=FONT, fontSize=12, leading=17, spaceBefore=6)


@dataclass(frozen=True)
class PrintedLetter:
    """Everything a printed letter may show: what its recipient may see, and no more."""

    reference: str  # the letter's reference (`letter_reference`), never the case's
    author_name: str  # the author's display name, never their real name
    recipient_name: str  # the recipient's display name
    dated: date  # the day it was approved, or posted
    text: str  # the stored letter text: plain text, printed as typed


@dataclass(frozen=True)
class CoverSheet:
    """What the prison or post room needs to pass a letter on; nothing from inside it."""

    addressee: str  # the postal address as the facilitator types it, one line per line
    return_address: str  # where the post room returns it: the service's address
    reference: str  # the letter's reference, as on the letter
    pages: int  # pages of the letter enclosed (`letter_pages`)


def letter_reference(letter_id: int) -> str:
    """The reference printed on a letter and its cover sheet: the letter's, not the case's."""
    return f"Relay letter {letter_id}"


@functools.cache
def _font() -> TTFont:
    font = TTFont(FONT, str(FONT_FILE))
    pdfmetrics.registerFont(font)
    # One face for every style: the letter's text never asks for bold or italic.
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)
    return font


def missing_glyphs(text: str) -> frozenset[str]:
    """The characters in `text` the font has no glyph for: they print as an empty box."""
    covered = _font().face.charToGlyph
    return frozenset(c for c in text if not c.isspace() and ord(c) not in covered)


def _escape(text: str) -> str:
    """Typed text as paragraph markup that prints every character as typed."""
    return html.escape(text, quote=False)


def _lines(text: str) -> str:
    """Typed lines as paragraph markup: every character escaped, newlines as breaks."""
    return "<br/>".join(_escape(line) for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    """The letter's paragraphs: a blank (or whitespace-only) line ends one."""
    plain = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs: list[str] = []
    lines: list[str] = []
    for line in plain.split("\n"):
        if line.strip():
            lines.append(line)
        elif lines:
            paragraphs.append("\n".join(lines))
            lines = []
    if lines:
        paragraphs.append("\n".join(lines))
    return paragraphs


def _day(day: date) -> str:
    months = (
        "January February March April May June July August September October November December"
    ).split()
    return f"{day.day} {months[day.month - 1]} {day.year}"


class _NumberedCanvas(Canvas):
    """A canvas that holds its pages until the end, to print "Page 1 of 3" on each."""

    def __init__(self, *args: object, footer: str, totals: list[int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._totals = totals
        self._pages: list[dict[str, object]] = []

    def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for page in self._pages:
            self.__dict__.update(page)
            if self._footer:
                # On every page, so a page that comes loose still says whose it is.
                footer = f"{self._footer}    Page {self.getPageNumber()} of {total}"
                self.setFont(FONT, 10)
                self.drawCentredString(A4[0] / 2, 14 * mm, footer)
            super().showPage()
        self._totals.append(total)
        super().save()


def _build(story: list[object], footer: str) -> tuple[bytes, int]:
    """The PDF of `story` on A4, and its number of pages."""
    out = BytesIO()
    totals: list[int] = []
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=TITLE,
        author="",
        subject="",
        creator="",
        producer="",
        keywords="",
        # No creation time and an ID from the content: the same letter prints the same bytes,
        # and the file does not say when it was made.
        invariant=True,
    )
    document.build(
        story, canvasmaker=functools.partial(_NumberedCanvas, footer=footer, totals=totals)
    )
    return out.getvalue(), totals[0]


def _required(value: str, what: str) -> str:
    if not value.strip():
        raise InvalidInput(f"Enter {what}")
    return value.strip()


def _letter(printed: PrintedLetter) -> tuple[bytes, int]:
    _font()
    reference = _required(printed.reference, "the letter's reference")
    story: list[object] = [
        Paragraph(f"Letter from {_escape(_required(printed.author_name, 'the author'))}", _HEADING),
        Paragraph(f"To: {_escape(_required(printed.recipient_name, 'the recipient'))}", _LABEL),
        Paragraph(f"Date: {_day(printed.dated)}", _LABEL),
        Paragraph(f"Reference: {_escape(reference)}", _LABEL),
        Spacer(1, 6 * mm),
        HRFlowable(width="100%", thickness=0.5, color="black", spaceAfter=8 * mm),
    ]
    story += [Paragraph(_lines(paragraph), _BODY) for paragraph in _paragraphs(printed.text)]
    return _build(story, reference)


def letter_pdf(printed: PrintedLetter) -> bytes:
    """The letter as its recipient reads it on paper, each page numbered "Page n of m"."""
    return _letter(printed)[0]


def letter_pages(printed: PrintedLetter) -> int:
    """How many pages `letter_pdf` prints, for the cover sheet."""
    return _letter(printed)[1]


def cover_sheet_pdf(cover: CoverSheet) -> bytes:
    """One page for the prison or post room: addressee, return address, reference, pages."""
    _font()
    if cover.pages < 1:
        raise InvalidInput("A letter has at least one page")
    pages = "1 page" if cover.pages == 1 else f"{cover.pages} pages"
    story: list[object] = [
        Paragraph("To", _SMALL),
        Paragraph(_lines(_required(cover.addressee, "the address")), _ADDRESS),
        Spacer(1, 20 * mm),
        Paragraph(f"Reference: {_escape(_required(cover.reference, 'the reference'))}", _LABEL),
        Paragraph(f"Enclosed: {pages}", _LABEL),
        Spacer(1, 20 * mm),
        Paragraph("If it cannot be delivered, please return it unopened to", _SMALL),
        Paragraph(_lines(_required(cover.return_address, "the return address")), _LABEL),
    ]
    pdf, count = _build(story, "")
    if count != 1:
        raise InvalidInput("The addresses are too long for one cover sheet", "addressee")
    return pdf
