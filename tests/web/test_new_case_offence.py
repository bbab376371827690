"""A new case's kind of offence comes from the referrals' fixed list (`OffenceCategory`),
stored as its value so the dashboard counts cases and referrals by the same kinds; it is
shown by its label, and an older case's free text is shown as it was typed."""

import pytest
from sqlalchemy import select

from relay.models import Case
from relay.models import OffenceCategory
from relay.models import offence_label
from relay.services import cases
from relay.services.errors import InvalidInput


def test_the_new_case_page_offers_the_list_and_stores_the_value(client, auth, session, world):
    auth.sign_in("facilitator")
    page = client.get("/cases/new")
    assert page.text.count('type="radio"') == len(OffenceCategory)
    assert "Stalking or harassment" in page.text
    opened = client.post(
        "/cases/new", data={"reference": "RJ-KIND", "offence_category": "stalking_or_harassment"}
    )
    assert opened.status_code == 302
    case = session.scalar(select(Case).where(Case.reference == "RJ-KIND"))
    assert case.offence_category == "stalking_or_harassment"
    shown = client.get(opened.headers["Location"])
    assert "<dd>Stalking or harassment</dd>" in shown.text
    assert "Stalking or harassment" in client.get("/cases/").text


def test_a_kind_not_on_the_list_is_refused_next_to_it_and_the_reference_kept(client, auth, world):
    auth.sign_in("facilitator")
    page = client.post("/cases/new", data={"reference": "RJ-KEPT", "offence_category": "arson!"})
    assert page.status_code == 200
    assert 'class="error-summary"' in page.text
    assert 'id="offence_category-error"' in page.text
    assert 'value="RJ-KEPT"' in page.text
    page = client.post("/cases/new", data={"reference": "RJ-KEPT"})
    assert "Choose the kind of offence" in page.text


def test_the_service_takes_only_a_kind_from_the_list(session, world):
    with pytest.raises(InvalidInput) as refused:
        cases.open_case(session, world.facilitator, reference="RJ-FREE", offence_category="x")
    assert refused.value.field == "offence_category"
    assert session.scalar(select(Case).where(Case.reference == "RJ-FREE")) is None


def test_an_older_cases_free_text_is_shown_as_it_was_typed():
    assert offence_label("burglary") == "Burglary"
    assert offence_label("criminal damage to a shed") == "criminal damage to a shed"
    assert Case(offence_category="domestic_abuse").offence_label == "Domestic abuse"
