"""Automatic review flags draw the facilitator's eye to what a letter should not carry."""

import re
from re import _constants
from re import _parser

import pytest

from relay.services.flags import _rules
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


@pytest.mark.parametrize(
    ("letter", "kind"),
    [
        ("Mail jo.smith+relay@mail.example.co.uk please", "contact details"),
        ("x" * 100 + "@example.com", "contact details"),
        ("Call +44 (0)20 7946 0958 after six", "contact details"),
        ("Ring 0161-496-0000", "contact details"),
        ("find me on Snapchat", "contact details"),
        ("We moved to 100B Long Lane last year", "address"),
        ("It is 7 Church Hill Road", "address"),
        ("The postcode is sw1a1aa", "address"),
        ("See www.example.org/page", "link"),
        ("Try example.co.uk", "link"),
        ("http://a.example", "link"),
        ("you will regret it", "threat"),
        ("it was nothing really", "blame or minimising"),
    ],
)
def test_more_of_each_concern_is_flagged(letter, kind):
    assert kind in {flag.kind for flag in review_flags(letter)}


@pytest.mark.parametrize(
    "letter",
    [
        "a" * 20_000,
        "." * 20_000,
        "a." * 10_000,
        "a@a" * 6_000,
        "www. " * 4_000,
        "1 " + "-" * 20_000,
    ],
)
def test_adversarial_letters_raise_no_flag(letter):
    # The bench (bench/bench_flags.py) times these; here only what they are flagged as.
    assert not review_flags(letter)


def test_the_excerpt_is_the_flagged_words():
    flags = {flag.kind: flag.excerpt for flag in review_flags("Mail me at jo@example.org now")}
    assert flags == {"contact details": "jo@example.org", "link": "example.org"}


# --- every pattern runs in linear time -------------------------------------------------
#
# Python's re backtracks, and counts no steps we could assert on, and wall time is
# not a test. So the shape of each pattern is checked instead: with no unbounded
# repeat (+, *, {n,}) and a bounded match width, the work at each starting position
# has a fixed ceiling, and a search over n characters is at most n times that.

MAX_MATCH_WIDTH = 1024


def _repeats(parsed) -> list[tuple[int, int]]:
    """(min, max) of every repeat anywhere in a parsed pattern, nested ones included."""
    found = []
    for op, av in parsed:
        if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT):
            low, high, inner = av
            found.append((low, high))
            found += _repeats(inner)
        elif op is _constants.SUBPATTERN:
            found += _repeats(av[-1])
        elif op is _constants.BRANCH:
            for branch in av[1]:
                found += _repeats(branch)
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            found += _repeats(av[1])
        elif op is _constants.ATOMIC_GROUP:
            found += _repeats(av)
        elif op is _constants.GROUPREF_EXISTS:
            found += _repeats(av[1]) + (_repeats(av[2]) if av[2] else [])
    return found


def _patterns() -> list[tuple[str, str]]:
    return [(kind, pattern.pattern) for kind, patterns in _rules().items() for pattern in patterns]


def test_the_shape_check_sees_an_unbounded_repeat():
    """The check itself must fail on the pattern that took 1.45 s, or it proves nothing."""
    quadratic = _parser.parse(r"[\w.+-]+@[\w-]+\.[\w.-]+")
    assert (1, _constants.MAXREPEAT) in _repeats(quadratic)
    assert (2, 3) in _repeats(_parser.parse(r"(?:a|(?=b{2,3}))"))


@pytest.mark.parametrize(("kind", "pattern"), _patterns())
def test_every_pattern_has_only_bounded_repeats(kind, pattern):
    parsed = _parser.parse(pattern, re.IGNORECASE)
    unbounded = [repeat for repeat in _repeats(parsed) if repeat[1] == _constants.MAXREPEAT]
    assert unbounded == [], f"{kind}: {pattern} has an unbounded repeat"
    assert parsed.getwidth()[1] <= MAX_MATCH_WIDTH, f"{kind}: {pattern} can match too much"
