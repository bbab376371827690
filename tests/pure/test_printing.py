"""A printed letter and its cover sheet: real PDFs, read back with pypdf.

Each test makes the PDF with relay.services.printing and reads what a person holding the
paper would read (the extracted text), or what a PDF reader would act on (the file's
objects), and checks what must be there and what must not.
"""

import dataclasses
import re
from datetime import date
from io import BytesIO

import pytest
from pypdf import PdfReader

from relay.services import printing
from relay.services.errors import InvalidInput
from relay.services.printing import CoverSheet
from relay.services.printing import PrintedLetter

REFERENCE = printing.letter_reference(4711)
# What the case knows and the paper must not: the case's reference, the offence, the
# author's real name, a facilitator's note.
CASE_REFERENCE = "RJ-2026-0042"
OFFENCE = "Burglary of a dwelling"
REAL_NAME = "Jonathan Whitcombe"
FACILITATOR_NOTE = "Check the victim's anxiety before the next letter"

TEXT = (
    "Dear Sam,\n"
    "\n"
    "I have thought about that night every day since.\n"
    "I was wrong, and I know it.\n"
    "\n"
    "I am learning to read and write properly now.\n"
    "\n"
    "Yours,\n"
    "Alex"
)
FOOTER = re.compile(r"^Relay letter 4711 +Page \d+ of \d+$")


def _letter(text: str = TEXT, **changes: object) -> PrintedLetter:
    letter = PrintedLetter(
        reference=REFERENCE,
        author_name="Alex",
        recipient_name="Sam",
        dated=date(2026, 11, 27),
        text=text,
    )
    return dataclasses.replace(letter, **changes)


def _cover(**changes: object) -> CoverSheet:
    cover = CoverSheet(
        addressee="Mr J Whitcombe A1234BC\nHMP Ashfield\nShortwood Road\nBristol BS16 9QJ",
        return_address="Restorative Justice Service\nPO Box 999\nLeeds LS1 1AA",
        reference=REFERENCE,
        pages=3,
    )
    return dataclasses.replace(cover, **changes)


def _read(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(BytesIO(pdf))


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in _read(pdf).pages]


def _text(pdf: bytes) -> str:
    return "\n".join(_pages(pdf))


def _flowing(pdf: bytes) -> str:
    """The text with every run of whitespace one space: a long line wraps where it fits."""
    return " ".join(_text(pdf).split())


def _body_words(pdf: bytes) -> list[str]:
    """The words of the letter as printed: after the reference line, without footers."""
    lines = [line for line in _text(pdf).split("\n") if not FOOTER.match(line.strip())]
    start = lines.index(f"Reference: {REFERENCE}") + 1
    return " ".join(lines[start:]).split()


def test_letter_shows_names_date_reference_text_and_its_page_number():
    pages = _pages(printing.letter_pdf(_letter()))

    assert len(pages) == 1
    lines = [line.strip() for line in pages[0].split("\n") if line.strip()]
    assert lines[:4] == [
        "Letter from Alex",
        "To: Sam",
        "Date: 27 November 2026",
        "Reference: Relay letter 4711",
    ]
    assert "I was wrong, and I know it." in lines
    assert lines[-1] == "Relay letter 4711    Page 1 of 1"


def test_letter_keeps_its_paragraphs_in_order_with_a_gap_between_them():
    reader = _read(printing.letter_pdf(_letter()))
    heights: dict[str, float] = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            heights.setdefault(text.strip(), cm[5] + tm[5])

    reader.pages[0].extract_text(visitor_text=visit)
    typed = [line for line in TEXT.split("\n") if line]
    assert [line for line in heights if line in typed] == typed
    y = [heights[line] for line in typed]
    steps = [above - below for above, below in zip(y, y[1:], strict=False)]
    # "Dear Sam," | night … | wrong … | learning … | "Yours," | "Alex": the steps that
    # cross a blank line are larger than the steps between lines of one paragraph.
    line_step = steps[1]
    assert line_step > 0 and steps[4] == pytest.approx(line_step)
    for paragraph_step in (steps[0], steps[2], steps[3]):
        assert paragraph_step > line_step * 1.3


def test_letter_prints_markup_as_the_characters_typed():
    typed = '<b>not bold</b> &amp; <a href="https://example.org">here</a> <br/> a < b'
    pdf = printing.letter_pdf(_letter(f"Dear Sam,\n\n{typed}"))

    assert typed in _flowing(pdf)
    assert b"/URI" not in pdf and b"/Annots" not in pdf


def test_curly_quotes_accents_and_other_latin_letters_survive():
    typed = "“I’m sorry,” she said — café, naïve, Łódź, Straße, Ørsted, Gödel, Ćirić, €5 … £3"
    pdf = printing.letter_pdf(_letter(f"Dear Sam,\n\n{typed}", author_name="Zoë"))

    text = _flowing(pdf)
    assert typed in text
    assert "Letter from Zoë" in text
    assert printing.missing_glyphs(typed) == frozenset()


def test_characters_the_font_lacks_are_named_so_a_page_can_warn_first():
    assert printing.missing_glyphs("Sorry 愛 café 🙂 “ok”") == {"愛", "🙂"}
    # They do not stop the letter printing: the rest of the line is there.
    text = _text(printing.letter_pdf(_letter("Sorry 愛 café 🙂 “ok”")))
    assert "Sorry" in text and "café" in text and "“ok”" in text


def test_a_long_letter_spans_pages_numbered_with_nothing_lost():
    sentences = [
        f"Paragraph {n} says sorry in its own words, number {n}, and means it. " * 4
        for n in range(1, 200)
    ]
    paragraphs: list[str] = []
    for sentence in sentences:
        if sum(map(len, paragraphs)) + len(sentence) > 20_000:
            break
        paragraphs.append(sentence.strip())
    long_text = "\n\n".join(paragraphs)
    assert len(long_text) > 19_000
    pdf = printing.letter_pdf(_letter(long_text))

    pages = _pages(pdf)
    total = len(pages)
    assert total >= 4
    assert total == printing.letter_pages(_letter(long_text))
    for number, page in enumerate(pages, start=1):
        assert page.rstrip().split("\n")[-1].strip() == (
            f"Relay letter 4711    Page {number} of {total}"
        )
    assert _body_words(pdf) == long_text.split()


def test_a_word_longer_than_a_line_is_broken_not_cut_off():
    word = "".join(chr(ord("a") + n % 26) for n in range(300))
    pdf = printing.letter_pdf(_letter(f"Dear Sam,\n\n{word} end"))

    assert f"{word} end" in _text(pdf).replace("\n", "")


def test_printed_letter_holds_only_what_its_recipient_may_see():
    assert {field.name for field in dataclasses.fields(PrintedLetter)} == {
        "reference",
        "author_name",
        "recipient_name",
        "dated",
        "text",
    }
    with pytest.raises(TypeError):
        PrintedLetter(REFERENCE, "Alex", "Sam", date(2026, 11, 27), TEXT, CASE_REFERENCE)  # type: ignore[call-arg]
    assert printing.letter_reference(4711) == "Relay letter 4711"


def test_nothing_from_the_case_reaches_the_paper():
    letter = _letter()
    pdf = printing.letter_pdf(letter)
    cover = printing.cover_sheet_pdf(_cover(addressee="HMP Ashfield\nBristol BS16 9QJ"))

    for paper in (pdf, cover):
        text = _text(paper)
        for secret in (CASE_REFERENCE, OFFENCE, REAL_NAME, FACILITATOR_NOTE, "RJ-"):
            assert secret not in text
        metadata = " ".join(str(value) for value in (_read(paper).metadata or {}).values())
        assert REAL_NAME not in metadata and CASE_REFERENCE not in metadata


def test_metadata_is_the_title_letter_and_names_no_one():
    for pdf in (printing.letter_pdf(_letter()), printing.cover_sheet_pdf(_cover())):
        reader = _read(pdf)
        metadata = dict(reader.metadata or {})
        assert metadata.pop("/Title") == "Letter"
        for key in ("/Author", "/Creator", "/Producer", "/Subject", "/Keywords"):
            assert metadata.pop(key, "") == ""
        # What is left are fixed dates (not the time it was printed) and /Trapped.
        assert set(metadata) <= {"/CreationDate", "/ModDate", "/Trapped"}
        for key in ("/CreationDate", "/ModDate"):
            assert metadata.get(key, "D:2000").startswith("D:2000")
        assert reader.xmp_metadata is None
        # ReportLab's defaults, had they been left: its name as producer, "anonymous".
        for name in (b"ReportLab PDF Library", b"anonymous", b"unspecified", b"untitled"):
            assert name not in pdf


@pytest.mark.parametrize(
    "typed",
    [
        "javascript:alert(1) https://example.org/x file:///etc/passwd",
        '<a href="javascript:alert(1)">x</a><img src="https://example.org/x.png"/>',
        '<link href="https://example.org">y</link> <script>app.alert(1)</script>',
    ],
)
def test_no_script_link_or_attachment_in_either_pdf(typed):
    papers = [
        printing.letter_pdf(_letter(f"Dear Sam,\n\n{typed}")),
        printing.cover_sheet_pdf(_cover(addressee=typed, return_address=typed)),
    ]
    for pdf in papers:
        for name in (b"/JavaScript", b"/JS", b"/EmbeddedFile", b"/URI", b"/Launch", b"/XObject"):
            assert name not in pdf
        reader = _read(pdf)
        root = reader.trailer["/Root"]
        for name in ("/OpenAction", "/AA", "/Names", "/AcroForm", "/Outlines"):
            assert name not in root
        for page in reader.pages:
            assert "/Annots" not in page and "/AA" not in page
        assert typed.split()[0] in _flowing(pdf)


def test_the_same_letter_prints_the_same_bytes():
    assert printing.letter_pdf(_letter()) == printing.letter_pdf(_letter())
    assert printing.letter_pdf(_letter()) != printing.letter_pdf(_letter(text=TEXT + "!"))


def test_cover_sheet_has_addressee_return_address_reference_and_pages():
    pages = _pages(printing.cover_sheet_pdf(_cover()))

    assert len(pages) == 1
    lines = [line.strip() for line in pages[0].split("\n") if line.strip()]
    assert lines[lines.index("To") + 1 :][:4] == [
        "Mr J Whitcombe A1234BC",
        "HMP Ashfield",
        "Shortwood Road",
        "Bristol BS16 9QJ",
    ]
    assert "Reference: Relay letter 4711" in lines
    assert "Enclosed: 3 pages" in lines
    assert lines[-3:] == ["Restorative Justice Service", "PO Box 999", "Leeds LS1 1AA"]
    one = _text(printing.cover_sheet_pdf(_cover(pages=1)))
    assert "Enclosed: 1 page\n" in one + "\n"


def test_cover_sheet_carries_no_word_of_the_letter_and_no_display_name():
    assert {field.name for field in dataclasses.fields(CoverSheet)} == {
        "addressee",
        "return_address",
        "reference",
        "pages",
    }
    letter = _letter(author_name="Marigold", recipient_name="Peregrine")
    cover = _cover(pages=printing.letter_pages(letter))

    cover_words = set(re.findall(r"\w+", _text(printing.cover_sheet_pdf(cover)).lower()))
    letter_words = set(re.findall(r"\w+", TEXT.lower()))
    assert not {word for word in letter_words if len(word) > 3} & cover_words
    assert not {"marigold", "peregrine", "alex", "sam"} & cover_words


def test_cover_sheet_refuses_what_does_not_fit_one_page():
    with pytest.raises(InvalidInput):
        printing.cover_sheet_pdf(_cover(addressee="\n".join(["A line of address"] * 60)))
    with pytest.raises(InvalidInput):
        printing.cover_sheet_pdf(_cover(addressee="  \n "))
    with pytest.raises(InvalidInput):
        printing.cover_sheet_pdf(_cover(pages=0))


def test_letter_refuses_a_missing_name_or_reference():
    for change in ({"author_name": " "}, {"recipient_name": ""}, {"reference": ""}):
        with pytest.raises(InvalidInput):
            printing.letter_pdf(_letter(**change))
