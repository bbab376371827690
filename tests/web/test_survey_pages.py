"""The survey at closing on the pages: a party answers from a link on their case page (or
the page after they withdraw), once; the case's facilitator prints the form and enters it;
staff read the answers and comment on the case page; the other party never sees them."""

import io
import zipfile

from sqlalchemy import select

from relay.models import Case
from relay.models import CaseParticipant
from relay.models import Role
from relay.models import SurveyResponse
from relay.services import access
from relay.services import cases
from relay.services import limits
from relay.services import survey

COMMENT = "Thank you <b>all</b> & goodbye"


def _closed(session, world) -> int:
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    return world.case.id


def _party(session, case_id: int, role: Role) -> int:
    return session.scalar(
        select(CaseParticipant.id).where(
            CaseParticipant.case_id == case_id, CaseParticipant.role == role
        )
    )


def test_a_party_answers_from_the_link_on_their_closed_case(client, auth, session, world):
    case_id = _closed(session, world)
    auth.sign_in("victim")
    page = client.get(f"/my/cases/{case_id}")
    assert "Tell us how it went (optional)" in page.text
    assert f'href="/my/cases/{case_id}/survey"' in page.text
    form = client.get(f"/my/cases/{case_id}/survey")
    assert "Only the people running your case will read this." in form.text
    assert form.text.count('value="partly"') == 4
    assert "Prefer not to say" in form.text

    sent = client.post(
        f"/my/cases/{case_id}/survey",
        data={"satisfied": "yes", "felt_safe": "", "felt_heard": "partly", "comment": COMMENT},
    )

    assert sent.status_code == 302
    thanks = client.get(sent.headers["Location"])
    assert "Thank you for telling us how it went" in thanks.text
    assert "Thank you &lt;b&gt;all&lt;/b&gt; &amp; goodbye" in thanks.text  # escaped, as typed
    page = client.get(f"/my/cases/{case_id}")
    assert "You answered the survey on" in page.text
    assert "Tell us how it went (optional)" not in page.text
    again = client.post(f"/my/cases/{case_id}/survey", data={"satisfied": "no"})
    assert again.status_code == 409
    assert "already answered the survey" in again.text
    session.expire_all()
    assert session.scalar(select(SurveyResponse.satisfied)) == "yes"


def test_a_mistake_is_shown_next_to_its_question_and_keeps_the_comment(
    client, auth, session, world
):
    case_id = _closed(session, world)
    auth.sign_in("offender")
    too_long = "y" * (limits.SURVEY_COMMENT_CHARACTERS + 1)
    page = client.post(
        f"/my/cases/{case_id}/survey", data={"felt_safe": "maybe", "comment": "Kept as typed"}
    )
    assert page.status_code == 200
    assert 'class="error-summary"' in page.text
    assert "Choose yes, partly or no, or leave it" in page.text
    assert 'id="felt_safe-error"' in page.text
    # The summary's link goes to the question's first radio, which a click there focuses.
    assert '<a href="#felt_safe-0">Choose yes, partly or no, or leave it</a>' in page.text
    assert 'id="felt_safe-0"' in page.text
    assert "Kept as typed" in page.text
    page = client.post(f"/my/cases/{case_id}/survey", data={"comment": too_long})
    assert "The comment must be 2,000 characters or fewer" in page.text
    assert session.scalar(select(SurveyResponse.id)) is None


def test_before_the_case_closes_there_is_no_survey(client, auth, world):
    auth.sign_in("victim")
    page = client.get(f"/my/cases/{world.case.id}")
    assert "Tell us how it went" not in page.text
    survey_page = client.get(f"/my/cases/{world.case.id}/survey")
    assert "offered when the exchange has ended" in survey_page.text
    assert "Send my answers" not in survey_page.text
    refused = client.post(f"/my/cases/{world.case.id}/survey", data={"satisfied": "yes"})
    assert refused.status_code == 409


def test_a_party_who_withdraws_is_offered_the_survey(client, auth, world):
    auth.sign_in("offender")
    page = client.post(f"/my/cases/{world.case.id}/withdraw")
    assert "You have stopped taking part" in page.text
    assert f'href="/my/cases/{world.case.id}/survey"' in page.text
    form = client.get(f"/my/cases/{world.case.id}/survey")
    assert "Send my answers" in form.text


def test_the_other_party_never_sees_a_survey_not_theirs(client, auth, session, world):
    case_id = _closed(session, world)
    survey.answer_survey(session, world.victim, case_id, satisfied="no", comment="Private words")
    auth.sign_in("offender")
    for path in (f"/my/cases/{case_id}", f"/my/cases/{case_id}/survey"):
        page = client.get(path)
        assert "Private words" not in page.text
        assert "You answered" not in page.text
    assert "Send my answers" in client.get(f"/my/cases/{case_id}/survey").text


def test_the_facilitator_prints_the_form_without_a_name_and_enters_it(
    client, auth, session, settings, world
):
    offender = _party(session, world.case.id, Role.OFFENDER)
    cases.set_on_paper(session, settings, world.facilitator, world.case.id, offender, True)
    case_id = _closed(session, world)
    victim = _party(session, case_id, Role.VICTIM)
    auth.sign_in("facilitator")
    page = client.get(f"/cases/{case_id}")
    assert 'id="surveys"' in page.text
    assert page.text.count("Offered, not answered") == 2
    assert f'href="/cases/{case_id}/survey/{offender}/print"' in page.text
    assert f'href="/cases/{case_id}/survey/{offender}"' in page.text
    # The person harmed takes part through Relay: she answers it herself, so neither link.
    assert f'href="/cases/{case_id}/survey/{victim}/print"' not in page.text
    assert f'href="/cases/{case_id}/survey/{victim}"' not in page.text

    printed = client.get(f"/cases/{case_id}/survey/{offender}/print")
    assert printed.status_code == 200
    article = printed.text.split("<article", 1)[1].split("</article>")[0]
    reference = session.get(Case, case_id).reference
    assert f"Reference: {reference}" in article
    assert "For the person responsible" in article
    for question in survey.QUESTIONS:
        assert question.words in article
    assert article.count('class="tick-box"') == 4 * len(survey.QUESTIONS)
    # Neither party's name, the one shown in the case or their real one.
    for name in ("Jo", "Chris", "Vic Harmed", "Olly Responsible"):
        assert name not in article

    form = client.get(f"/cases/{case_id}/survey/{offender}")
    assert "Enter the answers from a printed form" in form.text
    sent = client.post(
        f"/cases/{case_id}/survey/{offender}",
        data={"satisfied": "partly", "would_recommend": "yes", "comment": COMMENT},
    )
    assert sent.status_code == 302
    page = client.get(f"/cases/{case_id}")
    assert "Entered from the printed form on" in page.text
    assert "Thank you &lt;b&gt;all&lt;/b&gt; &amp; goodbye" in page.text
    response = session.scalar(select(SurveyResponse))
    assert response.from_paper and response.entered_by_id == world.facilitator.id
    # The offender has an account: their own page shows that it was entered for them.
    auth.sign_in("offender")
    mine = client.get(f"/my/cases/{case_id}")
    assert "Your facilitator entered your survey answers from the printed form" in mine.text


def test_an_administrator_reads_answers_and_comment_only_after_joining(
    client, auth, session, world
):
    case_id = _closed(session, world)
    survey.answer_survey(session, world.victim, case_id, felt_heard="yes", comment="For the team")
    auth.sign_in("administrator")
    page = client.get(f"/cases/{case_id}")
    surveys = page.text.split('id="survey-list"', 1)[1]
    assert "Answered on" in surveys
    assert "For the team" not in surveys
    assert survey.QUESTIONS[2].words not in surveys  # not the answers either
    assert 'class="summary survey-answers"' not in surveys
    assert "Add yourself to the case to read the answers and comment" in surveys
    assert "Print the survey form" not in page.text
    access.join_case(session, world.administrator, case_id)
    surveys = client.get(f"/cases/{case_id}").text.split('id="survey-list"', 1)[1]
    assert "For the team" in surveys
    assert survey.QUESTIONS[2].words in surveys


def test_a_facilitator_cannot_enter_a_form_for_a_party_who_takes_part_online(
    client, auth, session, world
):
    case_id = _closed(session, world)
    victim = _party(session, case_id, Role.VICTIM)
    auth.sign_in("facilitator")
    for path in (f"/cases/{case_id}/survey/{victim}", f"/cases/{case_id}/survey/{victim}/print"):
        refused = client.get(path)
        assert refused.status_code == 409
        assert "They take part through Relay" in refused.text
    refused = client.post(
        f"/cases/{case_id}/survey/{victim}", data={"satisfied": "yes", "comment": "All good"}
    )
    assert refused.status_code == 409
    assert "They take part through Relay" in refused.text
    assert session.scalar(select(SurveyResponse.id)) is None
    auth.sign_in("victim")
    assert "Send my answers" in client.get(f"/my/cases/{case_id}/survey").text


def test_the_party_is_told_their_facilitators_see_their_answers(client, auth, session, world):
    case_id = _closed(session, world)
    auth.sign_in("victim")
    form = client.get(f"/my/cases/{case_id}/survey").text
    assert "counted without your name" not in form
    assert "Your facilitators will see your answers and comment." in form
    assert "The service’s figures count answers without names." in form


def test_once_the_records_have_ended_no_ones_answers_are_shown(client, auth, session, world):
    case_id = _closed(session, world)
    survey.answer_survey(session, world.victim, case_id, felt_heard="yes", comment="For the team")
    cases.shred_case(session, case_id)
    auth.sign_in("facilitator")
    surveys = client.get(f"/cases/{case_id}").text.split('id="survey-list"', 1)[1]
    assert "Answered on" in surveys
    assert survey.QUESTIONS[2].words not in surveys
    assert 'class="summary survey-answers"' not in surveys
    assert "the answers are kept only in the service’s figures" in surveys
    auth.sign_in("offender")
    page = client.get(f"/my/cases/{case_id}/survey")
    assert "offered when the exchange has ended" not in page.text
    assert "records have ended" in page.text
    assert "Send my answers" not in page.text


def test_the_close_page_says_the_survey_is_offered_on_closing(client, auth, world):
    auth.sign_in("facilitator")
    page = client.get(f"/cases/{world.case.id}/close")
    assert "The closing survey" in page.text
    assert page.text.count("Not offered yet: it is offered when the case closes") == 2
    # Both parties take part through Relay: each answers it themselves.
    assert "Print the survey form" not in page.text


def test_their_data_file_shows_their_survey_escaped(client, auth, session, world):
    case_id = _closed(session, world)
    survey.answer_survey(session, world.victim, case_id, satisfied="yes", comment=COMMENT)
    auth.sign_in("victim")
    response = client.post("/my/data")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        page = archive.read("relay-my-data.html").decode()
    assert "Your answers to the survey at closing" in page
    assert "Thank you &lt;b&gt;all&lt;/b&gt; &amp; goodbye" in page
    assert "You answered on" in page
