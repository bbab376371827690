"""A case whose person responsible is in prison with no e-mail, from set-up to a letter
each way, entirely on paper on their side, through the pages (issue 10, "Done when").

Fran opens the case, invites the person harmed by e-mail (who sets up their account from
the mailed link) and adds the person responsible as taking part on paper; records the
gates, a paper party's from the paper form with its evidence, and starts the exchange.
Paper in: a real PNG scan drawn with Pillow is uploaded, Tesseract's draft shown beside
it is close to what was drawn, Fran corrects it and sends it for checking; Sam, the second
facilitator, is refused until he ticks that he compared typing and scan, then approves;
the person harmed reads it. Paper out: their reply, approved by Fran, waits in "Letters to
print and post"; its print view, its PDF (read back with pypdf) and its cover sheet's
PDF; "Posted" records it delivered. Every page passes axe at 1280 and 320 px as it opens
(checks.py), and afterwards the audit trail holds every paper step and the timeline says
when the letter came and the date on its envelope."""

import difflib
import io
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select

from relay import demo
from relay.models import AuditEntry
from relay.models import Case
from relay.models import Letter
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import invitations
from tests.browser.conftest import PEOPLE
from tests.browser.journeys import RECEIVE
from tests.browser.pages import ActivatePage
from tests.browser.pages import CasesPage
from tests.browser.pages import PartyHomePage
from tests.browser.paper_pages import DeskPage
from tests.browser.paper_pages import PaperCasePage
from tests.browser.paper_pages import PaperReviewPage
from tests.paper import scan_of

pytestmark = pytest.mark.slow

REFERENCE = "RJ-HMP-7"
SAM = ("sam@relay.example", "Sam Jones", "correct horse sam jones")
PAT = ("pat.walker@relay.example", "Pat Walker", "correct horse pat walker")
# Each gate's evidence; Lee's admission from the paper form he signed in prison.
EVIDENCE = (
    "Consent form signed by Pat at our office, scanned to file 11",
    "Paper form signed by Lee at HMP Example, scanned to file 12",
    "No-contact order checked with Lee's prison offender manager",
)
# What Lee wrote by hand, as the scan shows it (lines of the page).
FROM_PRISON = [
    "Dear Pat,",
    "I am sorry for the harm I did to you.",
    "I think about that evening every day.",
    "I am taking a course here to change.",
]
LETTER = "\n".join(FROM_PRISON)
REPLY = "Thank you for writing. I read your letter slowly, twice, at my kitchen table."
ADDRESS = "Lee Example A1234BC\nHMP Example\n1 Prison Road\nExampletown EX1 2MP"


def _day(value) -> str:
    return f"{value:%-d %B %Y}"


@pytest.fixture
def sam(site, world) -> None:
    """Sam Jones, a second facilitator with an account, on no case yet (Fran adds him)."""
    email, name, password = SAM
    with site.session() as session:
        administrator = demo.actor_for(session, site.settings, *PEOPLE["administrator"][::2])
        token = invitations.invite_staff(
            session, site.settings, administrator, email=email, name=name
        )
        invitations.accept_invitation(session, site.settings, token=token, password=password)


def test_a_case_with_the_person_responsible_in_prison_runs_on_paper_both_ways(
    site, people, mailbox, sam
):
    today = utcnow().date()  # the server's day, as the pages show it
    came, envelope = today - timedelta(days=3), today - timedelta(days=6)
    fran = people("facilitator")
    pat = replace(people("victim"), email=PAT[0], password=PAT[2])
    sam_jones = replace(people("facilitator"), email=SAM[0], password=SAM[2])

    # --- set-up --------------------------------------------------------------------------
    # Given Fran opens a case
    fran.sign_in()
    CasesPage(fran).open_a_case().open_case(REFERENCE, "Burglary")
    case = PaperCasePage(fran)
    case_id = int(re.search(r"/cases/(\d+)", case.page.url).group(1))

    # When she invites the person harmed by e-mail, and adds the person responsible, in
    # prison with no e-mail, as taking part on paper
    case = case.invite_by_email("The person harmed", PAT[1], PAT[0], "Pat")
    expect(case.notice()).to_contain_text(f"Invitation sent to {PAT[0]}")
    case = case.add_someone_on_paper().add("The person responsible", "Lee")
    expect(case.notice()).to_contain_text("Added: Lee takes part on paper")
    expect(case.person_line("Lee")).to_contain_text("takes part on paper")
    # (no one-time code is printed: Lee stays on paper throughout)

    # And the person harmed sets up their account from the e-mailed link
    pat.go(mailbox.link(PAT[0], "/activate/"))
    ActivatePage(pat).set_up(PAT[2]).kept_it_sign_in().sign_in(PAT[0], PAT[2])
    letters = PartyHomePage(pat).open_your_letters()
    expect(letters.page.get_by_text("still preparing the exchange")).to_be_visible()

    # And Fran adds Sam, records each gate (Lee's admission from the paper form, with its
    # evidence) and each person's risk, and starts the exchange
    fran.page.reload()
    case = PaperCasePage(fran)
    expect(case.person_line("Pat")).to_contain_text("account set up")
    case = case.add_a_facilitator(SAM[0])
    expect(case.notice()).to_contain_text("The facilitator has been added to the case")
    for gate, evidence in zip(PaperCasePage.GATES, EVIDENCE, strict=True):
        case = case.record(gate, evidence)
    review_on = (today + timedelta(days=90)).isoformat()
    for party in PaperCasePage.PARTIES:
        case = case.assess_risk(party, "Low", review_on, "Risk form on file")
    expect(case.gates_not_done()).to_have_count(0)
    admission = case.page.locator("#gate-records tr").filter(has_text="Admission")
    expect(admission).to_contain_text(EVIDENCE[1])
    case = case.start_the_exchange()
    # Then the exchange starts, with Lee still on paper and no account
    expect(case.state()).to_have_text("Letters are being exchanged")
    expect(case.person_line("Lee")).to_contain_text("takes part on paper")
    expect(case.person_line("Lee")).not_to_contain_text("account set up")

    # --- paper in ------------------------------------------------------------------------
    # When a letter from Lee comes by post, and Fran uploads its scan
    upload = case.enter_a_paper_letter()
    typing = upload.upload(
        "The person responsible", came.isoformat(), envelope.isoformat(), scan_of(FROM_PRISON)
    )
    # Then the scan is shown beside Relay's first reading of it, marked as a draft
    typing.scan_shown()
    expect(typing.draft_notice()).to_contain_text("This is a draft.")
    expect(typing.page.locator("dl.summary")).to_contain_text(_day(envelope))
    draft = typing.letter().input_value()
    closeness = difflib.SequenceMatcher(None, " ".join(draft.split()), " ".join(LETTER.split()))
    assert closeness.ratio() > 0.9, (closeness.ratio(), draft)

    # When she corrects it word for word and sends it for checking
    case = typing.save_and_send_for_checking(LETTER)
    expect(case.notice()).to_contain_text("Another facilitator must check it against the scan")
    # Then the timeline says when it came and the date on its envelope
    timeline = case.timeline()
    expect(timeline.entries().filter(has_text="Received a letter on paper")).to_have_text(
        re.compile(
            re.escape(
                f"Received a letter on paper (envelope dated {_day(envelope)}, came {_day(came)})"
            )
        )
    )
    expect(
        timeline.entries().filter(has_text="Typed in a paper letter from its scan")
    ).to_have_count(1)

    # When Sam opens it from the review queue
    sam_jones.sign_in()
    CasesPage(sam_jones).letters_to_review().open_first()
    review = PaperReviewPage(sam_jones)
    # Then he sees the scan beside the typed letter
    review.scan_shown()
    expect(review.scan()).to_contain_text(
        f"Came {_day(came)}; the envelope is dated {_day(envelope)}."
    )
    expect(review.version(1)).to_contain_text("I am taking a course here to change.")
    letter_in = int(re.search(r"/letters/(\d+)", review.page.url).group(1))

    # When he checks each flag and confirms, but approves it without saying he compared the
    # typing with the scan
    review.mark_flags_checked()
    review.confirm()
    review = review.approve()
    # Then he is told to, and the letter stays with him
    expect(review.error_summary()).to_contain_text(
        "Confirm that you have compared the typed letter with the scan, word for word"
    )
    expect(review.state()).to_have_text("With your facilitator")

    # When he compares them and ticks it (his other ticks are kept), and approves
    expect(review.field("I have read the whole letter, and it can be passed on")).to_be_checked()
    expect(review.scan_checked()).not_to_be_checked()
    review.tick_scan_checked()
    review = review.approve()
    # Then it is approved, waiting for Pat to choose to receive letters
    expect(review.notice().filter(has_text="Your decision is saved")).to_contain_text(
        "This letter is now: approved."
    )

    # When Pat chooses to receive letters here, and opens it
    pat.go("/")
    letters = PartyHomePage(pat).open_your_letters().choose_how_to_receive().choose(RECEIVE)
    reading = letters.open_letter_from("Lee").read_it_now()
    # Then she reads the letter as Fran typed it from the paper
    expect(reading.letter()).to_contain_text("I am sorry for the harm I did to you.")
    expect(reading.letter()).to_contain_text("I am taking a course here to change.")

    # --- paper out -----------------------------------------------------------------------
    # When she replies and Fran approves the reply
    letters = reading.keep_it()
    mine = letters.write_to("Lee").send(REPLY)
    expect(mine.state()).to_have_text("With your facilitator")
    fran.go("/")
    CasesPage(fran).letters_to_review().open_first()
    review = PaperReviewPage(fran)
    expect(review.version(1)).to_contain_text(REPLY)
    expect(review.scan()).to_have_count(0)
    letter_out = int(re.search(r"/letters/(\d+)", review.page.url).group(1))
    review.mark_flags_checked()
    review = review.approve()
    # Then it is approved, not delivered: Lee has no account to read it in
    expect(review.state()).to_have_text("Approved")

    # And it waits in the list to print and post, beside the queue
    fran.go("/review/")
    desk = DeskPage(fran)
    expect(desk.to_print_and_post()).to_contain_text(f"Letter {letter_out} in case {REFERENCE}")

    # When Fran opens its print view
    view = desk.print_it(letter_out)
    # Then it is the letter as Lee will read it, and the PDF holds it and nothing of the case
    expect(view.letter()).to_contain_text(REPLY)
    expect(view.letter()).to_contain_text("To: Lee")
    printed = view.download_pdf()
    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(printed)).pages)
    assert "Letter from Pat" in words, words
    assert " ".join(REPLY.split()) in " ".join(words.split()), words
    for hidden in (REFERENCE, PAT[1], PEOPLE["facilitator"][1], SAM[1], "burglary"):
        assert hidden not in words, hidden

    # When she makes its cover sheet for the prison's post room
    sheet = view.make_a_cover_sheet()
    cover = sheet.make_it(ADDRESS)
    # Then its PDF has the address she typed and no word of the letter
    cover_words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(cover)).pages)
    assert "HMP Example" in cover_words, cover_words
    assert "A1234BC" in cover_words, cover_words
    for hidden in ("Thank you for writing", "kitchen table", REFERENCE, PAT[1]):
        assert hidden not in cover_words, hidden

    # When she posts it, and back at her desk records that it was posted today
    fran.go("/review/")
    review = DeskPage(fran).open_to_post(letter_out)
    review = review.record_reached_them("Posted to them", today.isoformat())
    # Then it is delivered
    expect(review.notice()).to_contain_text("Recorded: the letter has reached them")
    expect(review.state()).to_have_text("Delivered")
    timeline = review.back_to_case().timeline()
    expect(timeline.entries().filter(has_text="Recorded a letter posted")).to_contain_text(
        f"Recorded a letter posted or handed over (posted on {_day(today)}) (letter {letter_out})"
    )

    # --- the audit trail -----------------------------------------------------------------
    # And every paper step is in the trail, for the right letter
    with site.session() as session:
        assert session.scalar(select(Case.reference).where(Case.id == case_id)) == REFERENCE
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.letter_id, AuditEntry.actor_id)
            .where(AuditEntry.case_id == case_id)
            .order_by(AuditEntry.sequence)
        ).all()
        typed = session.get(Letter, letter_in)
        staff = dict(
            session.execute(select(User.email, User.id).where(User.role == Role.FACILITATOR)).all()
        )
    fran_id, sam_id = staff[PEOPLE["facilitator"][0]], staff[SAM[0]]
    # Four eyes: Fran typed the letter in, Sam checked it against the scan and approved it
    assert typed.entered_by_id == fran_id
    action_of = {(action, letter): actor for action, letter, actor in entries}
    assert action_of[("letter.entered_from_paper", letter_in)] == fran_id
    assert action_of[("letter.transcript_checked", letter_in)] == sam_id
    assert action_of[("letter.approved", letter_in)] == sam_id
    assert action_of[("letter.delivered_on_paper", letter_out)] == fran_id
    steps = [(action, letter) for action, letter, _actor in entries]
    for step in (
        ("case.paper_party_added", None),
        ("case.paper_letter_received", None),
        ("case.paper_letter_scanned", None),
        ("letter.entered_from_paper", letter_in),
        ("letter.transcript_checked", letter_in),
        ("letter.approved", letter_in),
        ("letter.approved", letter_out),
        ("letter.printed", letter_out),
        ("letter.cover_sheet_printed", letter_out),
        ("letter.delivered_on_paper", letter_out),
    ):
        assert step in steps, (step, steps)
    actions = [action for action, _letter in steps]
    # In the order they happened
    order = [
        "case.paper_party_added",
        "case.paper_letter_received",
        "case.paper_letter_scanned",
        "letter.entered_from_paper",
        "letter.transcript_checked",
        "letter.cover_sheet_printed",
        "letter.delivered_on_paper",
    ]
    assert [actions.index(a) for a in order] == sorted(actions.index(a) for a in order)
    # Both prints are in it: the print view and the PDF
    assert steps.count(("letter.printed", letter_out)) == 2, steps
