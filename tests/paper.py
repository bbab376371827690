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
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services import paper_in
from relay.services.actor import Actor
from tests import factories

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
# Pat, the person harmed in a paper case (`paper_case`), who uses Relay.
HARMED = ("pat@relay.test", "Pat Harmed", "correct horse pat harmed")


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


def case_with_pat(session, settings, facilitator, reference: str = "RJ-PAPER") -> int:
    """A robbery case of `facilitator`'s whose person harmed, Pat (HARMED), was invited and
    uses Relay, with nobody yet as its person responsible: its id."""
    case = cases.open_case(session, facilitator, reference=reference, offence_category="robbery")
    token = cases.invite_party(
        session,
        settings,
        facilitator,
        case.id,
        role=Role.VICTIM,
        email=HARMED[0],
        name=HARMED[1],
        display_name="Pat",
    )
    invitations.accept_invitation(session, settings, token=token, password=HARMED[2])
    return case.id


def paper_case(session, settings, facilitator, reference: str = "RJ-PAPER") -> tuple[int, int]:
    """A case whose person harmed, Pat, uses Relay and whose person responsible, Lee (in
    prison), takes part on paper; not started: (its id, Lee's participant id)."""
    case_id = case_with_pat(session, settings, facilitator, reference)
    lee = cases.add_paper_party(
        session, facilitator, case_id, role=Role.OFFENDER, display_name="Lee"
    )
    return case_id, lee.id


def pat_signed_in(session, settings) -> Actor:
    """Pat, the person harmed of `paper_case`, signed in through the service."""
    return factories.actor_for(session, settings, HARMED[0], HARMED[2])


def started(session, facilitator, case_id: int) -> None:
    """The case's gates recorded and the case started, as its facilitator does."""
    for gate in cases.GATES:
        cases.record_gate(session, facilitator, case_id, gate)
    cases.activate_case(session, facilitator, case_id)
