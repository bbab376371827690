"""Letter text is plain text: kept exactly as typed, escaped on every page."""

import html
import re
from pathlib import Path

import jinja2
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


def _segments(diff):
    return [
        [(segment.kind, segment.text) for segment in paragraph] for paragraph in diff.paragraphs
    ]


def test_difference_marks_only_the_words_taken_out():
    before = "I saw you on Elm Street yesterday, and I was afraid."
    diff = text.difference(before, "I saw you yesterday, and I was afraid.")
    # One of the two spaces around the words goes with them; which one is the matcher's choice.
    assert [(kind, words.strip()) for kind, words in _segments(diff)[0]] == [
        ("same", "I saw you"),
        ("removed", "on Elm Street"),
        ("same", "yesterday, and I was afraid."),
    ]
    assert "".join(words for _, words in _segments(diff)[0]) == before


def test_a_replaced_word_is_removed_then_added():
    diff = text.difference("I was angry with you.", "I was upset with you.")
    assert _segments(diff) == [
        [("same", "I was "), ("removed", "angry"), ("added", "upset"), ("same", " with you.")]
    ]


def test_a_replaced_run_of_words_is_one_removal_and_one_addition():
    # Not "at"->"somewhere", an unchanged space, then "12 Example Street"->"else".
    diff = text.difference("I live at 12 Example Street now.", "I live somewhere else now.")
    assert _segments(diff) == [
        [
            ("same", "I live "),
            ("removed", "at 12 Example Street"),
            ("added", "somewhere else"),
            ("same", " now."),
        ]
    ]


def test_difference_keeps_paragraphs_and_line_breaks():
    diff = text.difference(
        "Dear Jo,\nI am sorry.\n\nI was at 4 Mill Lane that night.\n \n\nChris",
        "Dear Jo,\nI am sorry.\n\nI was nearby that night.\n \n\nChris",
    )
    assert _segments(diff) == [
        [("same", "Dear Jo,\nI am sorry.")],
        [
            ("same", "I was "),
            ("removed", "at 4 Mill Lane"),
            ("added", "nearby"),
            ("same", " that night."),
        ],
        [("same", "Chris")],
    ]


def test_a_paragraph_taken_out_is_shown_as_its_own_paragraph():
    diff = text.difference("Dear Jo,\n\nI live on Elm Street.\n\nChris", "Dear Jo,\n\nChris")
    assert _segments(diff) == [
        [("same", "Dear Jo,")],
        [("removed", "I live on Elm Street.")],
        [("same", "Chris")],
    ]
    assert (diff.removals, diff.additions) == (1, 0)


def test_identical_texts_have_no_changes():
    typed = "Dear Jo,\nI am sorry.\n\nChris"
    diff = text.difference(typed, typed)
    assert _segments(diff) == [[("same", "Dear Jo,\nI am sorry.")], [("same", "Chris")]]
    assert (diff.removals, diff.additions) == (0, 0)


def test_a_change_of_whitespace_alone_is_shown_as_suggested_and_not_counted():
    diff = text.difference("Dear Jo,\n\nI am sorry.  Chris", "Dear Jo, I am sorry. Chris")
    assert _segments(diff) == [[("same", "Dear Jo, I am sorry. Chris")]]
    assert (diff.removals, diff.additions) == (0, 0)


@pytest.mark.parametrize(
    ("before", "after", "removals", "additions"),
    [
        ("I saw you on Elm Street today.", "I saw you today.", 1, 0),
        ("I was angry with you.", "I was upset with you.", 1, 1),
        ("I am sorry.", "Jo, I am truly sorry.", 0, 2),
        ("One two three four five.", "One three five.", 2, 0),
    ],
)
def test_difference_counts_each_run_of_words_taken_out_or_put_in(
    before, after, removals, additions
):
    diff = text.difference(before, after)
    assert (diff.removals, diff.additions) == (removals, additions)
    assert sum(segment.kind == "removed" for segment in diff) == removals
    assert sum(segment.kind == "added" for segment in diff) == additions


# The partial is rendered as Flask renders it: autoescaped because its name ends in .html.
TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
PARTIAL = (
    jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    .get_template("party/_difference.html")
    .module
)


def _shown(before, after):
    return str(PARTIAL.difference(text.difference(before, after)))


def _summary(before, after):
    found = re.search(r'<p class="diff__summary">(.*?)</p>', _shown(before, after), re.S)
    assert found
    return " ".join(found.group(1).split())


@pytest.mark.parametrize(
    ("before", "after", "summary"),
    [
        ("I saw you on Elm Street today.", "I saw you today.", "1 change: 1 removal."),
        ("I was angry with you.", "I was upset with you.", "2 changes: 1 removal, 1 addition."),
        ("I am sorry.", "Jo, I am truly sorry.", "2 changes: 2 additions."),
        ("a b c d e f g", "a X c d Y f g", "4 changes: 2 removals, 2 additions."),
    ],
)
def test_the_author_is_told_how_many_changes_in_words(before, after, summary):
    assert _summary(before, after).startswith(f"Your facilitator suggests {summary}")


def test_identical_texts_are_said_to_have_no_change():
    assert _summary("Sorry.", "Sorry.") == "Your facilitator suggests no change to your words."


def test_changes_are_marked_for_the_eye_and_announced_to_a_screen_reader():
    shown = _shown("I was angry with\nyou.\n\nChris", "I was upset with\nyou.\n\nChris")
    assert shown.split("</p>", 1)[1].strip() == (
        "<p>I was "
        '<del class="diff__removed"><span class="visually-hidden">[removed: </span>'
        'angry<span class="visually-hidden">]</span></del>'
        '<ins class="diff__added"><span class="visually-hidden">[added: </span>'
        'upset<span class="visually-hidden">]</span></ins>'
        " with<br>you.</p>\n<p>Chris</p>"
    )


# The same corpus as tests/web/test_xss.py (\n in a payload is written as backslash n).
PAYLOADS = [
    line.replace("\\n", "\n")
    for line in (TEMPLATES.parent / "tests" / "data" / "xss_payloads.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line and not line.startswith("#")
]
# Exactly the markup the partial writes around the words; anything else is typed text.
PARTIAL_MARKUP = re.compile(
    r'<p( class="diff__summary")?>|</p>|<br>|</del>|</ins>|</span>'
    r'|<del class="diff__removed">|<ins class="diff__added">|<span class="visually-hidden">'
)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("put_in", [True, False], ids=["added", "removed"])
def test_a_payload_in_a_changed_word_is_shown_as_text(payload, put_in):
    plain, marked = "Dear Jo, I am sorry.", f"Dear Jo, {payload} I am sorry."
    before, after = (plain, marked) if put_in else (marked, plain)
    diff = text.difference(before, after)
    kind = "added" if put_in else "removed"
    assert kind in {segment.kind for segment in diff}

    shown = _shown(before, after)
    assert "<" not in PARTIAL_MARKUP.sub("", shown), "only the partial writes elements"
    # Nothing typed is lost: every character of the payload is there, as text.
    visible = html.unescape(PARTIAL_MARKUP.sub("", shown))
    assert re.sub(r"\s", "", payload) in re.sub(r"\s", "", visible)


def test_text_that_arrives_already_marked_safe_is_escaped_in_the_difference():
    shown = _shown(Markup("<em>x</em> stays"), Markup("<b>y</b> stays"))
    assert "&lt;em&gt;x&lt;/em&gt;" in shown and "&lt;b&gt;y&lt;/b&gt;" in shown
    assert "<em>" not in shown and "<b>" not in shown


def test_marked_text_is_render_with_numbered_marks_and_still_escaped():
    from relay.services.text import render
    from relay.services.text import render_marked

    stored = "Dear <b>Sam</b>,\n\nI know where you\nwork & live."
    assert render_marked(stored, []) == render(stored)
    sam = stored.index("Sam")
    where = stored.index("I know")
    shown = render_marked(stored, [(where, stored.index("work") + 4), (sam, sam + 3)])
    assert '<mark class="flag">Sam</mark><span class="flag-number"> [1]</span>' in shown
    # A mark across a line break is marked on each line, numbered once at its end.
    assert '<mark class="flag">I know where you</mark><br>\n<mark class="flag">work</mark>' in shown
    assert shown.count('class="flag-number"') == 2
    assert "&lt;b&gt;" in shown and "&amp; live." in shown and "<b>" not in shown
