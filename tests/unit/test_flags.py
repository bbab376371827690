"""Automatic review flags draw the facilitator's eye to what a letter should not carry."""

import pytest

from relay.services.flags import review_flags


@pytest.mark.parametrize(
    ("letter", "kind"),
    [
        ("Write to me at jo.smith@example.com", "contact details"),
        ("Ring me on 07700 900123 any time", "contact details"),
        ("I live at 12 Example Street now", "address"),
        ("My postcode is SW1A 1AA", "address"),
        ("Look at https://example.org/me", "link"),
        ("If you tell anyone I will find you", "threat"),
        ("It was not my fault, you made me do it", "blame or minimising"),
        ("It was only a window, no big deal", "blame or minimising"),
    ],
)
def test_each_concern_is_flagged(letter, kind):
    assert kind in {flag.kind for flag in review_flags(letter)}


def test_an_ordinary_apology_raises_no_flag():
    assert not review_flags("I am sorry for what I did. I understand now how it hurt your family.")


def test_flags_read_the_text_as_typed_not_as_stored_html():
    assert review_flags("Email me: a&amp;b@example.com")[0].kind == "contact details"
