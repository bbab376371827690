"""Letters that come on paper, made for tests: a page of handwriting-free type drawn with
Pillow (so Tesseract can read it back), uploaded and typed in through the services, as a
facilitator does on the paper letter pages."""

import io
from datetime import date
from pathlib import Path

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
from sqlalchemy import select

from relay.models import Letter
from relay.models import Role
from relay.models import utcnow
from relay.services import letters
from relay.services import paper_in

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


def scan_of(lines: list[str], format: str = "PNG") -> bytes:
    """A scanned page with `lines` typed on it, about 200 dpi, as `format` bytes."""
    page = Image.new("RGB", (1654, 240 + 80 * len(lines)), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), 40) if FONT.exists() else ImageFont.load_default(40)
    for number, line in enumerate(lines):
        draw.text((120, 120 + number * 80), line, fill="black", font=font)
    out = io.BytesIO()
    page.save(out, format)
    return out.getvalue()


def received(
    session,
    facilitator,
    case_id: int,
    role: Role,
    lines: list[str],
    *,
    received_on: date | None = None,
    envelope_dated: date | None = None,
):
    """A paper letter received and scanned: the scan, waiting to be typed in."""
    return paper_in.receive_paper_letter(
        session,
        facilitator,
        case_id,
        author_role=role,
        received_on=received_on or utcnow().date(),
        envelope_dated=envelope_dated,
        upload=scan_of(lines),
        filename="scan.png",
    )


def typed_from_paper(session, settings, facilitator, case_id: int, role: Role, text: str) -> Letter:
    """A paper letter received, scanned and typed in: waiting for another facilitator."""
    scan = received(session, facilitator, case_id, role, text.splitlines() or [text])
    return letters.enter_paper_letter(session, settings, facilitator, scan.id, text)


def upload_on_page(client, case_id: int, author: str, lines: list[str], **fields):
    """Step one on the page, as a facilitator's browser sends it: the scan as a file."""
    data = {
        "author": author,
        "received_on": utcnow().date().isoformat(),
        "scan": (io.BytesIO(scan_of(lines)), "scan.png"),
        **fields,
    }
    return client.post(
        f"/cases/{case_id}/paper-letter", data=data, content_type="multipart/form-data"
    )


def typed_in_on_pages(client, session, case_id: int, author: str, text: str) -> int:
    """Both steps on the pages: the scan uploaded, then the letter typed beside it. The
    new letter's id."""
    uploaded = upload_on_page(client, case_id, author, text.splitlines() or [text])
    assert uploaded.status_code == 302, uploaded.text
    typed = client.post(uploaded.headers["Location"], data={"text": text})
    assert typed.status_code == 302, typed.text
    session.expire_all()
    return session.scalar(
        select(Letter.id).where(Letter.entered_by_id.is_not(None)).order_by(Letter.id.desc())
    )
