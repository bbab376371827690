"""The review queue (issue 9, item 1): one row per letter waiting for review, with its case,
who wrote to whom, how long it has waited against the target, whether it is a paper letter
and who is reviewing it; filtered and ordered by a GET form, a page of 25 at a time; and a
count in the staff navigation.

The queue's clock is fixed where a row's wait is checked (`letters.utcnow`, which the
queue reads once per page); the letters' times of sending are written on their rows, as
tests/services/test_reminders.py does, since `submit_letter` takes the service's clock.
"""

import html
import re
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from relay.models import AuditEntry
from relay.models import Case
from relay.models import Invitation
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import OutboxMessage
from relay.models import Role
from relay.services import access
from relay.services import cases
from relay.services import claims
from relay.services import flags
from relay.services import invitations
from relay.services import letters
from relay.services.errors import InvalidInput
from tests.conftest import SAM
from tests.paper import typed_from_paper
from tests.web.test_constant_sql import _cases_in_review_of_every_kind

# Wednesday 13 January 2027, 14:05 UTC (and UK time): the queue's "now".
NOW = datetime(2027, 1, 13, 14, 5, tzinfo=UTC)
# Friday 8 January: three working days waited by NOW, due Friday 15 January.
FRIDAY = datetime(2027, 1, 8, 10, 0, tzinfo=UTC)
# Tuesday 22 December 2026: due Thursday 31 December (Christmas Day and the Boxing Day
# holiday are not working days); by NOW it has waited 13 working days (New Year's Day not
# counted either), so it is overdue.
BEFORE_CHRISTMAS = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
# This morning: nothing waited yet.
THIS_MORNING = datetime(2027, 1, 13, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """The queue's clock, fixed at NOW."""
    monkeypatch.setattr(letters, "utcnow", lambda: NOW)


def _sent_at(session, letter_id: int, moment: datetime) -> None:
    session.execute(update(Letter).where(Letter.id == letter_id).values(submitted_at=moment))
    session.commit()


@pytest.fixture
def three(session, settings, world, sam):
    """Three letters in review in the world's case, as the queue shows them at NOW:
    - from the person responsible, sent on FRIDAY, Sam reviewing it until 14:35;
    - a paper letter from the person harmed that the world's facilitator typed, overdue;
    - a paper letter from the person responsible that Sam typed, sent this morning, the
      world's facilitator reviewing it.
    """
    fran = world.facilitator
    online = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, online.id)
    typed_by_fran = typed_from_paper(
        session, settings, fran, world.case.id, Role.VICTIM, "Why our house?"
    )
    typed_by_sam = typed_from_paper(
        session, settings, sam, world.case.id, Role.OFFENDER, "I think of it every day."
    )
    _sent_at(session, online.id, FRIDAY)
    _sent_at(session, typed_by_fran.id, BEFORE_CHRISTMAS)
    _sent_at(session, typed_by_sam.id, THIS_MORNING)
    claims.claim_for_review(session, sam, online.id, now=NOW)
    claims.claim_for_review(session, fran, typed_by_sam.id, now=NOW)
    return online.id, typed_by_fran.id, typed_by_sam.id


def _text(fragment: str) -> str:
    """What a screen reader reads of `fragment`: its text, without what is hidden from it."""
    shown = re.sub(r'<(\w+) aria-hidden="true">.*?</\1>', "", fragment, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", shown)).split())


def _rows(page: str) -> list[list[str]]:
    """The queue table's rows, each as its cells' text (what a screen reader reads)."""
    table = re.search(r'<table class="table" id="queue">.*?<tbody>(.*?)</tbody>', page, re.S)
    if table is None:
        return []
    return [
        [_text(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


def _references(page: str) -> list[str]:
    """The case reference of each row, in order."""
    return [row[0].split(",")[0] for row in _rows(page)]


def _summary(page: str) -> str:
    found = re.search(r'<p id="queue-summary">(.*?)</p>', page, re.S)
    assert found, "the queue says nothing of what it lists"
    return _text(found.group(1))


def test_each_row_says_whose_letter_how_long_it_has_waited_whether_paper_and_who_reviews_it(
    client, auth, world, three, clock
):
    online, typed_by_fran, typed_by_sam = three
    auth.sign_in("facilitator")
    page = client.get("/review/").text
    # Oldest first: the overdue one, Friday's, this morning's.
    assert _rows(page) == [
        [
            f"RJ-2026-001, letter {typed_by_fran}",
            "Person harmed to person responsible",
            "13 working days Overdue Due 31 December 2026",
            "0",
            "You typed it: another facilitator approves",
            "Nobody",
        ],
        [
            f"RJ-2026-001, letter {online}",
            "Person responsible to person harmed",
            "3 working days Due 15 January 2027",
            "0",
            "No",
            "Sam Jones, until 14:35 UTC",
        ],
        [
            f"RJ-2026-001, letter {typed_by_sam}",
            "Person responsible to person harmed",
            "0 working days Due 20 January 2027",
            "0",
            "Paper: needs a second facilitator",
            "You",
        ],
    ]
    # Overdue is said in words, as a tag, not by colour alone; and only where it is so.
    assert page.count('<strong class="tag">Overdue</strong>') == 1
    for letter_id in three:
        assert f'<a href="/review/letters/{letter_id}">RJ-2026-001<' in page
    assert "The review target is 5 working days" in page
    assert _summary(page) == "3 letters, oldest first."


def test_each_row_counts_its_flags_and_says_where_its_two_approvals_stand(
    session, client, auth, settings, world, sam
):
    """In a case marked for extra care every letter takes two approvals; the queue says
    which have their first, and by whom, and counts each letter's flags without opening
    it (the count kept when it was sent; a version sent before it was kept says so)."""
    victim = next(p for p in world.case.participants if p.role == Role.VICTIM)
    victim.risk_extra_care = True
    session.commit()
    flagged = letters.save_draft(
        session, world.offender, world.case.id, None, "My mate Darren talked me into it."
    )
    letters.submit_letter(session, settings, world.offender, flagged.id)
    plain = letters.save_draft(session, world.victim, world.case.id, None, "Why our house?")
    letters.submit_letter(session, settings, world.victim, plain.id)
    found = flags.review_flags("My mate Darren talked me into it.", None)
    letters.approve_letter(
        session,
        settings,
        world.facilitator,
        flagged.id,
        checked_flags=[flag.key for flag in found],
        confirmed=True,
    )
    session.execute(
        update(LetterVersion).where(LetterVersion.letter_id == plain.id).values(flag_count=None)
    )
    session.commit()

    auth.sign_in("facilitator")
    rows = _rows(client.get("/review/").text)
    assert [row[3:5] for row in rows] == [
        ["2", "Extra care: first approval by you, a second is needed"],
        ["Not counted", "Extra care: needs two facilitators' approval"],
    ]
    second = _rows(client.get("/review/?show=second").text)
    assert [row[0] for row in second] == [f"RJ-2026-001, letter {flagged.id}"]
    auth.sign_out()
    auth.sign_in_as(SAM[0], SAM[2])
    rows = _rows(client.get("/review/").text)
    assert rows[0][4] == "Extra care: first approval by Fran Facilitator, a second is needed"


def test_the_queue_says_what_sam_sees_of_the_same_letters(app, world, sam, three, clock):
    from tests.conftest import Auth

    browser = Auth(app.test_client())
    browser.sign_in_as(SAM[0], SAM[2])
    rows = _rows(browser.client.get("/review/").text)
    assert [row[4:] for row in rows] == [
        ["Paper: needs a second facilitator", "Nobody"],
        ["No", "You"],
        ["You typed it: another facilitator approves", "Fran Facilitator, until 14:35 UTC"],
    ]


def test_a_claim_run_out_or_held_by_someone_taken_off_the_case_is_nobodys(
    session, client, auth, settings, world, sam, three, clock
):
    online, _typed_by_fran, typed_by_sam = three
    # The world's facilitator's claim ran out an hour ago; Sam leaves the case holding his.
    session.execute(
        update(Letter)
        .where(Letter.id == typed_by_sam)
        .values(claimed_until=NOW - timedelta(hours=1))
    )
    session.commit()
    access.remove_facilitator(session, world.facilitator, world.case.id, sam.id)
    auth.sign_in("facilitator")
    page = client.get("/review/").text
    assert [row[5] for row in _rows(page)] == ["Nobody", "Nobody", "Nobody"]
    assert len(_rows(client.get("/review/?show=unclaimed").text)) == 3
    assert _rows(client.get("/review/?show=mine").text) == []


@pytest.mark.parametrize(
    ("query", "expected", "summary"),
    [
        ("", ["fran", "online", "sam"], "3 letters, oldest first."),
        ("?order=newest", ["sam", "online", "fran"], "3 letters, newest first."),
        ("?show=mine", ["sam"], "1 letter you are reviewing, oldest first."),
        ("?show=unclaimed", ["fran"], "1 letter nobody is reviewing, oldest first."),
        (
            "?show=overdue",
            ["fran"],
            "1 letter waiting longer than the review target, oldest first.",
        ),
        (
            "?show=paper&order=newest",
            ["sam", "fran"],
            "2 letters entered from paper, newest first.",
        ),
        (
            "?case=RJ-2026-001&order=newest",
            ["sam", "online", "fran"],
            "3 letters in case RJ-2026-001, newest first.",
        ),
        (
            "?show=paper&case=%20RJ-2026-001%20",
            ["fran", "sam"],
            "2 letters entered from paper in case RJ-2026-001, oldest first.",
        ),
    ],
)
def test_each_filter_and_order_lists_its_letters(
    client, auth, world, three, clock, query, expected, summary
):
    ids = dict(zip(("online", "fran", "sam"), three, strict=True))
    auth.sign_in("facilitator")
    page = client.get(f"/review/{query}").text
    listed = [int(row[0].rsplit(" ", 1)[1]) for row in _rows(page)]
    assert listed == [ids[name] for name in expected]
    assert _summary(page) == summary


def test_the_filters_are_a_form_that_works_without_javascript(client, auth, world, three):
    auth.sign_in("facilitator")
    page = client.get("/review/?show=paper&case=RJ-2026-001&order=newest").text
    form = re.search(
        r'<form method="get" action="/review/" id="queue-filters">(.*?)</form>', page, re.S
    )
    assert form, "no GET form for the filters"
    form = form.group(1)
    assert "csrf_token" not in form
    assert '<legend class="label">Show</legend>' in form
    assert '<legend class="label">Order</legend>' in form
    assert '<label class="label" for="case">Case reference (optional)</label>' in form
    assert '<button type="submit" class="button">Apply</button>' in form
    # Folded away until something is chosen; then open, showing the choice.
    assert '<details class="details" id="queue-choice" open>' in page
    assert '<details class="details" id="queue-choice">' in client.get("/review/").text
    # What was chosen is shown chosen.
    assert '<input checked class="choice__input" id="show-4" name="show"' in form
    assert '<input checked class="choice__input" id="order-1" name="order"' in form
    assert 'value="RJ-2026-001"' in form


def test_a_choice_the_form_does_not_offer_lists_everything_oldest_first(client, auth, world, three):
    auth.sign_in("facilitator")
    response = client.get("/review/?show=everything&order=sideways&page=x")
    assert response.status_code == 200
    assert _summary(response.text) == "3 letters, oldest first."
    assert '<input checked class="choice__input" id="show-0"' in response.text
    assert '<input checked class="choice__input" id="order-0"' in response.text
    assert "There is a problem" not in response.text


def test_a_reference_too_long_to_be_one_is_said_to_be_wrong(client, auth, world, three):
    auth.sign_in("facilitator")
    page = client.get("/review/?case=" + "R" * 41).text
    assert "There is a problem" in page
    assert 'href="#case">A case reference is at most 40 characters</a>' in page
    assert '<details class="details" id="queue-choice" open>' in page
    assert _summary(page) == "3 letters, oldest first."


def test_a_case_with_nothing_waiting_or_not_theirs_lists_nothing_and_says_so(
    client, auth, two_cases
):
    # Case RJ-B has a letter in review too, but another facilitator runs it.
    auth.sign_in("facilitator")
    for reference in ("RJ-B", "NO-SUCH-CASE"):
        page = client.get(f"/review/?case={reference}").text
        assert _rows(page) == []
        assert _summary(page) == f"No letters in case {reference}."
        assert '<a href="/review/">Show every letter waiting for review</a>' in page
    page = client.get("/review/?show=mine").text
    assert _summary(page) == "No letters you are reviewing."


def _every_kind(session, world, count: int) -> list[Letter]:
    """`count` cases of the world's facilitator, each with a letter in review, of the kinds
    in tests/web/test_constant_sql.py; their letters oldest first, as the queue orders them."""
    _cases_in_review_of_every_kind(session, world, count, 0)
    session.expire_all()
    found = session.scalars(select(Letter).join(Case).where(Case.reference.like("BULK-%")))
    return sorted(found, key=lambda letter: (letter.submitted_at, letter.id))


def _index(letter: Letter) -> int:
    return int(letter.case.reference.removeprefix("BULK-"))


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a class="pagination__link" href="([^"]+)" rel="{rel}">', page)
    return html.unescape(found.group(1)) if found else None


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("", lambda index: True),
        ("show=mine", lambda index: index % 3 == 0),
        ("show=unclaimed", lambda index: index % 3 != 0),
        ("show=paper", lambda index: index % 4 == 0),
        ("show=overdue", lambda index: index % 5 == 0),
        ("show=unclaimed&order=newest", lambda index: index % 3 != 0),
        ("case=BULK-42", lambda index: index == 42),
    ],
)
def test_each_filter_is_shown_25_at_a_time_and_keeps_itself_in_the_page_links(
    session, client, auth, world, query, wanted
):
    in_order = _every_kind(session, world, 150)
    expected = [letter.case.reference for letter in in_order if wanted(_index(letter))]
    if "order=newest" in query:
        expected.reverse()
    auth.sign_in("facilitator")
    path, shown = f"/review/?{query}", []
    while path is not None:
        page = client.get(path).text
        rows = _references(page)
        assert 0 < len(rows) <= 25
        shown += rows
        following = _link(page, "next")
        if following is not None:
            assert len(rows) == 25
            # The next page's link carries the same choice.
            kept = parse_qs(urlsplit(following).query)
            assert kept.pop("page") == [str(len(shown) // 25 + 1)]
            assert kept == parse_qs(query)
        path = following
    assert shown == expected
    assert len(expected) > 25 or query.startswith("case=")


def test_the_navigation_counts_the_letters_waiting_for_review_in_the_persons_cases(
    app, client, auth, two_cases
):
    # One letter in review in each case; the world's facilitator runs case A only.
    auth.sign_in("facilitator")
    for path in ("/cases/", "/review/", "/account/e-mails"):
        assert '<a href="/review/">Review queue (1)</a>' in client.get(path).text, path
    # An administrator's queue holds every case's letters.
    administrator = auth.another_client("administrator")
    assert '<a href="/review/">Review queue (2)</a>' in administrator.get("/admin/").text
    # A party's pages have no such link.
    victim = auth.another_client("victim")
    assert "Review queue" not in victim.get("/my/").text


def _section(page: str, heading_id: str) -> list[str]:
    """The items of the list under the heading with `heading_id`, as read aloud."""
    found = re.search(rf'<h2 id="{heading_id}">.*?</h2>(.*?)</ol>', page, re.S)
    if found is None:
        return []
    return [_text(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


def test_beside_the_queue_the_other_lists_a_facilitator_acts_on(
    session, client, auth, settings, world, two_cases
):
    fran = world.facilitator
    # Back with its writer: changes asked for.
    back = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, back.id)
    letters.request_changes(session, settings, fran, back.id, "Please say it in your words.")
    # Approved, not passed on: the person harmed has not chosen to receive letters (yet).
    cases.set_receiving(session, settings, world.victim, world.case.id, preference="not_now")
    waiting = letters.save_draft(session, world.offender, world.case.id, None, "I think of it.")
    letters.submit_letter(session, settings, world.offender, waiting.id)
    letters.approve_letter(session, settings, fran, waiting.id)
    # Invitations to a new case's people, one of them expired.
    case = cases.open_case(session, fran, reference="RJ-NEW", offence_category="theft")
    for role, email, display in (
        (Role.VICTIM, "new-victim@relay.test", "Pat"),
        (Role.OFFENDER, "new-offender@relay.test", "Lee"),
    ):
        cases.invite_party(
            session,
            settings,
            fran,
            case.id,
            role=role,
            email=email,
            name=display,
            display_name=display,
        )
    session.execute(
        update(Invitation)
        .where(Invitation.email == "new-offender@relay.test")
        .values(expires_at=datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
    )
    session.commit()

    auth.sign_in("facilitator")
    page = client.get("/review/").text
    assert _section(page, "sent-back") == [
        f"Letter {back.id} in case RJ-2026-001, from the person responsible: changes asked for"
    ]
    (approved,) = _section(page, "approved-waiting")
    assert approved.startswith(f"Letter {waiting.id} in case RJ-2026-001, approved ")
    assert approved.endswith("waiting because the recipient has not chosen to receive letters")
    invited = _section(page, "invitations")
    # Expiring first: the expired one, marked in words.
    assert invited[0] == (
        "Case RJ-NEW: the person responsible (“Lee”), Expired on 02 January 2026 "
        "Send again the invitation to the person responsible in case RJ-NEW"
    )
    assert invited[1].startswith("Case RJ-NEW: the person harmed (“Pat”), invited ")
    # The other facilitator's case RJ-B has its own people and letters: none of them here.
    assert "RJ-B" not in page

    # When the date is set for later, the reason says so.
    session.execute(
        update(Letter).where(Letter.id == waiting.id).values(deliver_not_before=date(2099, 5, 1))
    )
    session.commit()
    (approved,) = _section(client.get("/review/").text, "approved-waiting")
    assert approved.endswith("waiting because not before 1 May 2099")


def test_a_party_invitation_that_ran_out_is_sent_again_from_beside_the_queue(
    session, client, auth, settings, world, two_cases
):
    """A case has one of each party, so an expired link could never be replaced by inviting
    again: the case's facilitator sends it again, and the old link stops working."""
    fran = world.facilitator
    case = cases.open_case(session, fran, reference="RJ-NEW", offence_category="theft")
    old_token = cases.invite_party(
        session,
        settings,
        fran,
        case.id,
        role=Role.VICTIM,
        email="pat@relay.test",
        name="Pat",
        display_name="Pat",
    )
    session.execute(
        update(Invitation)
        .values(expires_at=datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
        .where(Invitation.email == "pat@relay.test")
    )
    session.commit()
    invitation_id = session.scalar(
        select(Invitation.id).where(Invitation.email == "pat@relay.test")
    )
    mail_before = session.scalar(select(func.count()).select_from(OutboxMessage))

    # Another case's facilitator, and an administrator, find no such invitation.
    other = auth.another_client("other_facilitator")
    assert other.post(f"/review/invitations/{invitation_id}/send-again").status_code == 404

    auth.sign_in("facilitator")
    page = client.get("/review/").text
    assert (
        'Send again<span class="visually-hidden"> the invitation to the person harmed in case '
        "RJ-NEW</span>" in page
    )
    sent = client.post(f"/review/invitations/{invitation_id}/send-again")
    assert sent.status_code == 302
    assert sent.headers["Location"].endswith("/review/#invitations")
    page = client.get("/review/").text
    assert "A new invitation link is on its way to the person harmed" in page
    (listed,) = _section(page, "invitations")
    assert "Expired" not in listed and "the link works until" in listed
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == mail_before + 1
    with pytest.raises(InvalidInput, match="expired, has been replaced"):
        invitations.open_invitation(session, old_token)
    resent = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "invitation.resent")
    ).all()
    assert [(entry.case_id, entry.actor_id) for entry in resent] == [(case.id, fran.id)]


def test_a_printed_code_not_yet_used_is_listed_without_a_send_again_button(
    session, client, auth, world
):
    """A printed one-time code has no address to send it to: beside the queue it says it
    was printed, until when it works, and where to print a new one."""
    fran = world.facilitator
    case = cases.open_case(session, fran, reference="RJ-CODE", offence_category="theft")
    lee = cases.add_paper_party(session, fran, case.id, role=Role.OFFENDER, display_name="Lee")
    cases.print_code(session, fran, case.id, lee.id)
    auth.sign_in("facilitator")
    page = client.get("/review/").text
    listed = page[page.index('id="invitations"') :]
    item = re.search(r"Case RJ-CODE</a>:(.*?)</li>", listed, re.S).group(1)
    assert "a one-time code printed" in item
    assert "Send again" not in item
    assert "Print a new code on the case page" in item
