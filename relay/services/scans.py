"""A paper letter's scan: checked from its content, cleaned, and read back as a draft.

A facilitator uploads what a scanner or a phone made; anyone could have made it, so it is
treated as hostile until it has been turned into plain pixels:

- The type comes from the content, never the name: the first bytes say which parser may
  try it (PDF, JPEG or PNG), and that parser must then read it whole. Anything else is
  refused in words a facilitator can act on.
- Limits are checked before decoding where the file allows it: the upload's size first,
  then an image's declared size (a "decompression bomb" is a small file that declares a
  huge picture) and a PDF's page count.
- Images are decoded and **re-encoded from their pixels**, so nothing but the picture
  survives: no EXIF (a phone's GPS position), XMP, ICC profile, comments or PNG text
  chunks. The EXIF orientation is applied first, so the page stays upright.
- PDFs are **rasterised**, not checked: each page is rendered to pixels with PDFium
  (pypdfium2, with no forms and no JavaScript engine) and the stored scan is a new PDF that
  Pillow builds from those page images. A checker that refuses /JavaScript, /OpenAction,
  /Launch, embedded files and the rest must know every way a PDF can carry something
  active, and a PDF reader later must agree with it; a PDF made only of page images
  carries nothing but pictures, whatever the upload held. What is lost (selectable text,
  links) a scan never had. A PDF that needs a password cannot be rendered and is refused.

`ocr_draft` proposes a first transcript with Tesseract (English). It is only ever a draft:
the facilitator corrects it against the scan, and a second facilitator checks the two
side by side before the letter goes on.

Nothing here knows of Flask or the database: bytes in, a `CleanScan` or text out.
"""

import io
import math
import time
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pypdfium2
import pytesseract
from PIL import Image
from PIL import ImageOps

from relay.services.errors import InvalidInput

# One upload: a 20-page scan at 200 dpi, or a phone photo, fits well inside this.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PAGES = 20
# One image's pixels, checked from its header before decoding: A4 at 600 dpi is 35 million,
# a 12 to 40 megapixel phone photo fits. Decoded as RGB it is at most 120 MB of memory.
MAX_IMAGE_PIXELS = 40_000_000
# PDF pages are rendered at this resolution (enough for Tesseract, which wants 200-300
# dpi for ordinary type), but never to more pixels than this, whatever size a page claims.
PDF_RENDER_DPI = 200
MAX_RENDERED_PAGE_PIXELS = 2480 * 3508  # A4 at 300 dpi
# The stored JPEG's quality: a scan is read by eye and by OCR, not printed from.
JPEG_QUALITY = 90
OCR_LANGUAGE = "eng"
# Tesseract reads for at most this long in all, so the page asking for a draft answers
# well inside gunicorn's 30 second timeout (config/gunicorn.conf.py); a page it had no time
# for is typed by the facilitator.
OCR_BUDGET_SECONDS = 20
OCR_PAGE_SECONDS = 10

ScanKind = Literal["pdf", "jpeg", "png"]

_MEDIA_TYPES: dict[ScanKind, str] = {
    "pdf": "application/pdf",
    "jpeg": "image/jpeg",
    "png": "image/png",
}

_NOT_A_SCAN = "The file must be a scan saved as a PDF, JPEG or PNG"


@dataclass(frozen=True)
class CleanScan:
    """A scan fit to store: `data` holds only pictures, in the format `kind` names."""

    kind: ScanKind
    data: bytes
    pages: int
    media_type: str


def accept_scan(data: bytes, *, filename: str = "") -> CleanScan:
    """Check an uploaded scan and give back a cleaned copy to store, or raise InvalidInput.

    `filename` is never trusted: it only names the file in a refusal, so the facilitator
    knows which one it was.
    """
    name = f"“{filename}” " if filename else "The file "
    if not data:
        raise InvalidInput(f"{name}is empty. Choose the scan again", "scan")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"{name}is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. "
            "Scan it again at a lower resolution, or in parts",
            "scan",
        )
    kind = _kind_from_content(data)
    if kind is None:
        raise InvalidInput(f"{name}is not a PDF, JPEG or PNG. {_NOT_A_SCAN}", "scan")
    if kind == "pdf":
        return _clean_pdf(data, name)
    return _clean_image(data, kind, name)


@dataclass(frozen=True)
class OcrDraft:
    """Tesseract's reading of a scan: `pages_read` of the scan's pages, in order."""

    text: str
    pages_read: int


def ocr_draft(
    scan: CleanScan,
    *,
    budget_seconds: float = OCR_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> OcrDraft:
    """A first transcript of a cleaned scan: each page's text, pages apart by a blank line.

    Tesseract reads the pictures only; the result is a draft for a facilitator to
    correct, never the letter itself. It reads page after page within `budget_seconds` in
    all, so the page asking for it answers in time: a page is begun only with
    OCR_PAGE_SECONDS still left (the first always), and the pages it had no time for are
    left for the facilitator to type (`pages_read` says how many it read). If Tesseract is
    missing, or the first page takes longer than the budget, pytesseract's error
    (`TesseractNotFoundError`, `RuntimeError`) comes out: the caller offers an empty draft.
    """
    deadline = clock() + budget_seconds
    texts: list[str] = []
    for page in _page_images(scan):
        left = deadline - clock()
        if texts and left < OCR_PAGE_SECONDS:
            break
        try:
            text = pytesseract.image_to_string(
                page, lang=OCR_LANGUAGE, timeout=max(left, OCR_PAGE_SECONDS)
            )
        except RuntimeError:
            if not texts:
                raise
            break  # out of time on a later page: what was read stands
        texts.append(text.strip())
    return OcrDraft("\n\n".join(t for t in texts if t), len(texts))


def stored_scan(data: bytes, media_type: str, pages: int) -> CleanScan:
    """A scan as `accept_scan` made it, read back from storage (decrypted by the caller)."""
    kind = next(kind for kind, media in _MEDIA_TYPES.items() if media == media_type)
    return CleanScan(kind=kind, data=data, pages=pages, media_type=media_type)


def page_picture(scan: CleanScan, number: int) -> tuple[bytes, str]:
    """Page `number` (from 1) of a cleaned scan as a picture a browser shows: (bytes, media
    type). An image is its own only page; a PDF's page is rendered to a JPEG."""
    if not 1 <= number <= scan.pages:
        raise InvalidInput(f"The scan has no page {number}", "page")
    if scan.kind != "pdf":
        return scan.data, scan.media_type
    document = pypdfium2.PdfDocument(scan.data)
    try:
        picture = _stored_page(document, number - 1)
    finally:
        document.close()
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), _MEDIA_TYPES["jpeg"]


def _kind_from_content(data: bytes) -> ScanKind | None:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None


def _open_image(data: bytes, kind: ScanKind, name: str) -> Image.Image:
    """Open an image with only its own format's parser, refusing a bomb before decoding."""
    # MPO is how Pillow names a JPEG with extra pictures (a phone's depth map); the first
    # picture is an ordinary JPEG and is the only one kept.
    formats = ("JPEG", "MPO") if kind == "jpeg" else ("PNG",)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice that; here it is an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_many_pixels(name) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidInput(
            f"{name}could not be read as a {kind.upper()} picture. It may be damaged. "
            "Scan it again",
            "scan",
        ) from error
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise _too_many_pixels(name)
    return image


def _too_many_pixels(name: str) -> InvalidInput:
    return InvalidInput(
        f"{name}is too large a picture (more than {MAX_IMAGE_PIXELS // 1_000_000} million "
        "pixels). Scan it again at a lower resolution",
        "scan",
    )


def _clean_image(data: bytes, kind: ScanKind, name: str) -> CleanScan:
    with _open_image(data, kind, name) as image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                upright = ImageOps.exif_transpose(image)
                pixels = _plain_pixels(upright, kind)
        except (OSError, SyntaxError, ValueError) as error:
            raise InvalidInput(
                f"{name}could not be read as a {kind.upper()} picture. It may be damaged "
                "or cut short. Scan it again",
                "scan",
            ) from error
    out = io.BytesIO()
    if kind == "jpeg":
        pixels.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        pixels.save(out, "PNG", optimize=True)
    return CleanScan(kind=kind, data=out.getvalue(), pages=1, media_type=_MEDIA_TYPES[kind])


def _plain_pixels(image: Image.Image, kind: ScanKind) -> Image.Image:
    """A new image holding only `image`'s pixels: no EXIF, XMP, ICC profile or text."""
    if kind == "jpeg":
        wanted = image.mode if image.mode in ("L", "RGB") else "RGB"
    elif image.mode in ("1", "L", "RGB", "RGBA"):
        wanted = image.mode
    else:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        wanted = "RGBA" if has_alpha else "RGB"
    converted = image if image.mode == wanted else image.convert(wanted)
    # frombytes starts from nothing: no .info, so no metadata can be written back out.
    return Image.frombytes(wanted, converted.size, converted.tobytes())


def _clean_pdf(data: bytes, name: str) -> CleanScan:
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        if "password" in str(error).lower():
            raise InvalidInput(
                f"{name}is protected by a password. Save it again without one, or scan "
                "the letter as pictures",
                "scan",
            ) from error
        raise InvalidInput(
            f"{name}could not be read as a PDF. It may be damaged. Scan it again", "scan"
        ) from error
    try:
        count = len(document)
        if count < 1:
            raise InvalidInput(f"{name}has no pages", "scan")
        if count > MAX_PAGES:
            raise InvalidInput(
                f"{name}has {count} pages; a scan can have at most {MAX_PAGES}. "
                "Upload the letter in parts",
                "scan",
            )
        pages = [_render_page(document, index, name) for index in range(count)]
    finally:
        document.close()
    out = io.BytesIO()
    # Pillow writes each page as one JPEG picture and nothing else; no title, no dates.
    pages[0].save(
        out,
        "PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=PDF_RENDER_DPI,
        quality=JPEG_QUALITY,
        title="",
        creationDate=None,
        modDate=None,
    )
    return CleanScan(kind="pdf", data=out.getvalue(), pages=count, media_type=_MEDIA_TYPES["pdf"])


def _render_page(document: pypdfium2.PdfDocument, index: int, name: str) -> Image.Image:
    page = document[index]
    try:
        width, height = page.get_size()  # in points, 72 to the inch
        if not (width > 0 and height > 0):
            raise InvalidInput(f"{name}has a page with no size", "scan")
        scale = PDF_RENDER_DPI / 72
        # A page may claim to be metres wide: render it smaller rather than run out of memory.
        # (PDFium rounds each side up, hence the 1% kept in hand.)
        scale = min(scale, 0.99 * math.sqrt(MAX_RENDERED_PAGE_PIXELS / (width * height)))
        bitmap = page.render(scale=scale, may_draw_forms=False)
        try:
            return _plain_pixels(bitmap.to_pil(), "jpeg")
        finally:
            bitmap.close()
    except pypdfium2.PdfiumError as error:
        raise InvalidInput(
            f"{name}has a page that could not be read. It may be damaged. Scan it again",
            "scan",
        ) from error
    finally:
        page.close()


def _page_images(scan: CleanScan) -> Iterator[Image.Image]:
    """The pages of a cleaned scan as pictures, one at a time so a long scan is never all
    in memory; a PDF here is one `accept_scan` made, so PDFium reads only page images."""
    if scan.kind != "pdf":
        with Image.open(io.BytesIO(scan.data), formats=("JPEG", "PNG")) as image:
            yield image
        return
    document = pypdfium2.PdfDocument(scan.data)
    try:
        for index in range(len(document)):
            yield _stored_page(document, index)
    finally:
        document.close()


def _stored_page(document: pypdfium2.PdfDocument, index: int) -> Image.Image:
    page = document[index]
    try:
        bitmap = page.render(scale=PDF_RENDER_DPI / 72, may_draw_forms=False)
        try:
            # A copy: the picture PDFium gives shares the bitmap's memory, freed below.
            return bitmap.to_pil().copy()
        finally:
            bitmap.close()
    finally:
        page.close()
