"""Letter text is plain text: kept exactly as typed, escaped on every page."""

import pytest
from markupsafe import Markup

from relay.services import text

TYPED = ["<every day>", "a < b > c", "&amp;", "<script>alert(1)</script>", "<p>Hi</p> &lt;"]


@pytest.mark.parametrize("typed", TYPED)
def test_sanitise_keeps_every_character_typed(typed):
    assert text.sanitise(typed) == typed


def test_sanitise_normalises_line_endings_and_trims_the_ends():
    assert text.sanitise("\r\n  Dear you,\r\n\r\nSorry.\rBye  \r\n\t") == "Dear you,\n\nSorry.\nBye"


@pytest.mark.parametrize("typed", TYPED)
def test_for_editing_gives_back_the_stored_text_unchanged(typed):
    assert text.for_editing(text.sanitise(typed)) == typed


def test_render_escapes_everything_typed():
    shown = text.render("<b>bold</b> & \"quoted\" 'single' &amp; <every day>")
    assert isinstance(shown, Markup)
    assert str(shown) == (
        "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34; &#39;single&#39; "
        "&amp;amp; &lt;every day&gt;</p>"
    )


def test_render_escapes_text_that_arrives_already_marked_safe():
    # A stored row is never trusted as markup, whatever type it arrives as.
    assert str(text.render(Markup("<em>x</em>"))) == "<p>&lt;em&gt;x&lt;/em&gt;</p>"


def test_render_makes_paragraphs_and_line_breaks():
    shown = text.render("One\ntwo\n\nThree\n \n\n\nFour  ")
    assert str(shown) == "<p>One<br>\ntwo</p>\n<p>Three</p>\n<p>Four  </p>"


def test_render_of_nothing_is_nothing():
    assert str(text.render("")) == ""
    assert str(text.render("\n \n")) == ""


def test_difference_compares_the_lines_as_typed():
    changed = text.difference("Hello <you>\nMy address is here", "Hello <you>\n[removed]")
    assert [(line.kind, line.text) for line in changed] == [
        ("same", "Hello <you>"),
        ("removed", "My address is here"),
        ("added", "[removed]"),
    ]
