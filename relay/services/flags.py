"""Automatic review flags: what a letter should not carry, marked where it stands in the text.

A flag only draws the facilitator's eye; it decides nothing. The rules are shipped
data (relay/data/review-flags.json) so that practice can refine them without a code
change, and tests/pure/test_flags.py holds the examples each rule must and must not
match. Four kinds are found here rather than by a pattern: phone numbers (Google's
phonenumbers library), the names Relay holds for the case (passed in by the caller),
a surname the recipient asked not to be used, and common given names
(relay/data/given-names.txt).

Every match is returned, with its place in the plain text, so the page can mark each
one where it stands. Two flags never overlap: where they would, the one whose rule
comes first in the file is kept (an e-mail address rather than the link inside it,
"I know where you work" as a threat rather than a workplace), then the longer.

Anyone can type a letter, and Python's re backtracks: one unbounded repeat (`+`, `*`,
`{8,}`) let a crafted 20,000-character letter hold the review page for over a second.
Every repeat in the rules and in this module is bounded, so the work per character is
capped; tests/pure/test_flags.py refuses a pattern that is not. phonenumbers costs
about ten microseconds a character of digits, so it is given only short runs of digits,
and only so many of them; bench/bench_flags.py times the worst letters we know.
"""

import bisect
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import phonenumbers

from relay.services.text import for_editing

DATA = Path(__file__).resolve().parent.parent / "data"
RULES = DATA / "review-flags.json"
GIVEN_NAMES = DATA / "given-names.txt"


@dataclass(frozen=True)
class CaseNames:
    """What Relay holds for the case's people, as the caller found it."""

    names: tuple[str, ...]  # display names, first names, surnames
    withheld_surnames: tuple[str, ...] = ()  # surnames the recipient asked not to be used


@dataclass(frozen=True)
class Flag:
    kind: str  # a stable id: a rule's "kind" in relay/data/review-flags.json
    excerpt: str  # the words that raised it, exactly as they stand in the text
    start: int  # offsets in the plain text, for_editing(stored_text)
    end: int
    reason: str  # a plain sentence for the facilitator, readable without colour

    @property
    def key(self) -> str:
        """Names this flag in a letter's text, for the facilitator's "checked" mark: a new
        version of the text gives its flags new keys, so a mark never carries over."""
        return f"{self.kind}:{self.start}:{self.end}"


@dataclass(frozen=True)
class Pattern:
    r"""A rule's pattern, compiled so that re can skip quickly to where it might match.

    With IGNORECASE, or with \b in front, re tries a pattern at every character of the
    letter; without them it jumps to the pattern's first letters. So a pattern with no
    capitals in it runs on the letter in lower case, and a leading \b before a word is
    checked here instead. The matches are the same.
    """

    regex: re.Pattern
    source: str  # as written in the rules
    lowered: bool  # runs on the letter in lower case
    word_start: bool  # the leading \b taken off, checked in _matches


@dataclass(frozen=True)
class Rules:
    order: tuple[str, ...]  # kinds, in order of precedence
    reasons: dict[str, str]
    patterns: dict[str, tuple[Pattern, ...]]
    given_names: frozenset[str]  # lower case
    word_names: frozenset[str]  # given names that are also ordinary words
    months: frozenset[str]
    before_month: frozenset[str]


@cache
def _rules() -> Rules:
    raw = json.loads(RULES.read_text(encoding="utf-8"))
    names = GIVEN_NAMES.read_text(encoding="utf-8").splitlines()
    return Rules(
        order=tuple(rule["kind"] for rule in raw["rules"]),
        reasons={rule["kind"]: rule["reason"] for rule in raw["rules"]},
        patterns={rule["kind"]: tuple(map(_compile, rule["patterns"])) for rule in raw["rules"]},
        given_names=frozenset(
            name.strip().lower() for name in names if name.strip() and not name.startswith("#")
        ),
        word_names=frozenset(raw["given names that are also words"]),
        months=frozenset(raw["months that are also given names"]),
        before_month=frozenset(raw["words before a month"]),
    )


_CASED = re.compile(r"\(\?-i:|(?<!\\)[A-Z]")
_WORD_FIRST = re.compile(r"(\(\?-i:)?\\b(?=[a-zA-Z]|\(\?:[a-zA-Z])")


def _compile(source: str) -> Pattern:
    lowered = not _CASED.search(source)
    word_first = _WORD_FIRST.match(source)
    if word_first and (lowered or word_first.group(1)):
        pattern = (word_first.group(1) or "") + source[word_first.end() :]
    else:
        pattern = source
    flags = 0 if lowered else re.IGNORECASE
    return Pattern(re.compile(pattern, flags), source, lowered, pattern != source)


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _matches(pattern: Pattern, plain: str, lowered: str) -> list[tuple[int, int]]:
    text = lowered if pattern.lowered else plain
    found = []
    at = 0
    while (match := pattern.regex.search(text, at)) is not None:
        start, end = match.span()
        if pattern.word_start and _is_word(text, start - 1) == _is_word(text, start):
            at = start + 1
            continue
        found.append((start, end))
        at = max(end, start + 1)
    return found


def _lower(plain: str) -> str:
    """The letter in lower case, each character where it was."""
    lowered = plain.lower()
    if len(lowered) == len(plain):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in plain)


def review_flags(stored_text: str, names: CaseNames | None = None) -> list[Flag]:
    """Every place in a letter that needs the facilitator's eye, in the order they come."""
    plain = for_editing(stored_text)
    lowered = _lower(plain)
    rules = _rules()
    found: list[Flag] = []
    for kind, patterns in rules.patterns.items():
        for pattern in patterns:
            found += (_flag(plain, kind, *span) for span in _matches(pattern, plain, lowered))
    found += _phone_numbers(plain)
    found += _given_names(plain, rules)
    if names is not None:
        found += _case_names(plain, lowered, names)
    return _apart(found, rules.order)


def _flag(plain: str, kind: str, start: int, end: int, reason: str | None = None) -> Flag:
    excerpt = plain[start:end]
    start += len(excerpt) - len(excerpt.lstrip())
    end -= len(excerpt) - len(excerpt.rstrip())
    return Flag(kind, plain[start:end], start, end, reason or _rules().reasons[kind])


def _apart(found: list[Flag], order: tuple[str, ...]) -> list[Flag]:
    """The flags with no two overlapping: the earlier rule wins, then the longer match."""
    rank = {kind: i for i, kind in enumerate(order)}
    found.sort(key=lambda f: (rank[f.kind], f.start - f.end, f.start))
    starts: list[int] = []
    kept: list[Flag] = []  # in order of start, as starts
    for flag in found:
        i = bisect.bisect_right(starts, flag.start)
        if i and kept[i - 1].end > flag.start:
            continue
        if i < len(kept) and kept[i].start < flag.end:
            continue
        starts.insert(i, flag.start)
        kept.insert(i, flag)
    return kept


# --- phone numbers ----------------------------------------------------------------------
#
# Leniency POSSIBLE, not VALID: VALID refuses numbers outside the ranges the library
# knows are allocated, which drops Ofcom's drama numbers (07700 900123), ranges newer
# than the library, and a number with one digit wrong that still finds its owner. A
# flag is a prompt to look, so a number of a possible length is enough. POSSIBLE also
# takes years and references ("2019", "2016-2019", "12.05.2019"), so a match must hold
# a whole national number (9 digits or more, as every UK number but a few local ones
# does), or 7 or 8 digits after a word such as "ring" or "number" ("ring me on 946 0958").
# Numbers spelt in words ("oh seven seven...") or with letters for digits are not found.

# Digits and what people put between them; phonenumbers is given only these runs.
_DIGIT_RUN = re.compile(r"[+(\[]{0,2}\d[\d+()\[\]./\-‐‑‒–—― \t\u00a0]{0,63}")
_SEPARATORS = frozenset("+()[]./-‐‑‒–—― \t\u00a0")
_PHONE_WORD = re.compile(
    r"\b(?:ring|call|phone|text|number|mobile|mob|tel|landline|contact|whatsapp)\b", re.I
)
# No phone number, however written, is longer than this; a longer run of digits is
# marked whole rather than searched, because a long run is what makes phonenumbers slow.
LONGEST_NUMBER = 40
# phonenumbers is asked about this many runs at most; later runs of 7 digits or more
# are marked whole. A real letter has a handful; a crafted one would otherwise cost
# a few hundred microseconds a run.
RUNS_SEARCHED = 100
_LONG_RUN = (
    "A long run of digits, which may hold a phone number: letters must not carry contact details."
)
_MANY_RUNS = (
    "Digits that may be a phone number, in a letter with too many numbers to check each "
    "one: letters must not carry contact details."
)


def _digit_runs(plain: str) -> list[tuple[int, int]]:
    """Each stretch of digits and separators, joined across the regex's 64-character bound."""
    runs: list[tuple[int, int]] = []
    for match in _DIGIT_RUN.finditer(plain):
        start, end = match.span()
        if runs and _SEPARATORS.issuperset(plain[runs[-1][1] : start]):
            start = runs.pop()[0]
        runs.append((start, end))
    return runs


def _phone_numbers(plain: str) -> list[Flag]:
    found = []
    searched = 0
    for start, end in _digit_runs(plain):
        run = plain[start:end].rstrip("".join(_SEPARATORS))
        if sum(c.isdigit() for c in run) < 7:
            continue
        if len(run) > LONGEST_NUMBER:
            found.append(_flag(plain, "phone", start, start + len(run), _LONG_RUN))
            continue
        searched += 1
        if searched > RUNS_SEARCHED:
            found.append(_flag(plain, "phone", start, start + len(run), _MANY_RUNS))
            continue
        for match in phonenumbers.PhoneNumberMatcher(
            run, "GB", leniency=phonenumbers.Leniency.POSSIBLE
        ):
            digits = len(phonenumbers.national_significant_number(match.number))
            at = start + match.start
            if digits >= 9 or (digits >= 7 and _PHONE_WORD.search(plain, max(0, at - 30), at)):
                found.append(_flag(plain, "phone", at, start + match.end))
    return found


# --- names ------------------------------------------------------------------------------
#
# A name Relay holds, or a common given name, is flagged where it is written with a
# capital: "Young" the surname, not "young"; "Will" the person, not "will". A letter
# typed with no capitals at all (apart from "I") is read in any case, since its author
# capitalises nothing. A given name that is not an ordinary word (Darren, Chloe) is
# flagged in any case. One that is a word (Will, May, Mark, Grace, Hope, Bill, Joy) is
# flagged only where it reads as a name: capitalised in the middle of a sentence, after
# "Dear", or alone on its line as a signature; a sentence's first word is not ("Will you
# ever read this?"), nor a month after "in", "last" and the like or beside a number
# ("in May", "June 2019").

_WORD = re.compile(r"\b[^\W\d_]{2,30}\b")
_SENTENCE_ENDS = frozenset(".!?…\n")
_OPENERS = frozenset(" \t\"'“‘([")


def _without_capitals(plain: str) -> bool:
    return not any(c.isupper() for c in re.sub(r"\bI\b", "", plain))


def _starts_sentence(plain: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and plain[i] in _OPENERS:
        i -= 1
    return i < 0 or plain[i] in _SENTENCE_ENDS


def _alone_on_line(plain: str, start: int, end: int) -> bool:
    # Only the few characters around the word are read: a signature's line is short, and
    # reading a whole 20,000-character line for every word would be quadratic.
    before = plain[max(0, start - 8) : start]
    after = plain[end : end + 8]
    if "\n" not in before and start > 8 or "\n" not in after and end + 8 < len(plain):
        return False
    words = (before.rsplit("\n", 1)[-1] + plain[start:end] + after.split("\n", 1)[0]).split()
    while words and words[-1].strip(".,!").lower() in {"", "x", "xx", "xxx"}:
        words.pop()  # a signature's kisses
    return [word.strip(".,!-–—") for word in words] == [plain[start:end]]


def _word_before(plain: str, start: int) -> str:
    words = plain[max(0, start - 20) : start].split()
    return words[-1].lower() if words else ""


def _reads_as_name(plain: str, start: int, end: int, rules: Rules) -> bool:
    word = plain[start:end]
    if not (word[:1].isupper() and word[1:].islower()):
        return False
    if word.lower() in rules.months:
        after = plain[end : end + 4].lstrip(" ,")
        if _word_before(plain, start) in rules.before_month or after[:1].isdigit():
            return False
        if _word_before(plain, start)[:1].isdigit():
            return False
    if _alone_on_line(plain, start, end) or _word_before(plain, start) == "dear":
        return True
    return not _starts_sentence(plain, start)


def _given_names(plain: str, rules: Rules) -> list[Flag]:
    found = []
    for match in _WORD.finditer(plain):
        word = match.group().lower()
        if word not in rules.given_names:
            continue
        if word in rules.word_names and not _reads_as_name(plain, *match.span(), rules):
            continue
        found.append(_flag(plain, "given name", *match.span()))
    return found


@cache
def _names_patterns(names: tuple[str, ...]) -> tuple[Pattern, ...]:
    """A pattern for each held name, so "Asha" is found inside "Asha Patel" as well."""
    held = {" ".join(name.lower().split()) for name in names if len(name.strip()) >= 2}
    return tuple(
        _compile(r"\b" + r"\s{1,3}".join(re.escape(part) for part in name.split()) + r"(?!\w)")
        for name in sorted(held)
    )


def _case_names(plain: str, lowered: str, names: CaseNames) -> list[Flag]:
    any_case = _without_capitals(plain)
    found = []
    for kind, held in (("withheld surname", names.withheld_surnames), ("name", names.names)):
        for pattern in _names_patterns(tuple(held)):
            for start, end in _matches(pattern, plain, lowered):
                if any_case or plain[start].isupper():
                    found.append(_flag(plain, kind, start, end))
    return found


# A recipient's conditions that ask for their surname to be kept out of letters to them:
# a "no" before the word in the same clause ("please don't use my surname", "no last
# names"), or a "not" after it ("my surname is not to be used"). "I do not mind" is not
# a "no". Bounded repeats only, as everywhere here.
_SURNAME = r"(?:sur\s{0,2}name|last\s{1,3}name|family\s{1,3}name|second\s{1,3}name)s?"
_NO = r"(?:do\s{1,3}not|don['’]?t|never|no|not|without|leave\s{1,3}out)"
_WITHHOLD_SURNAME = re.compile(
    rf"\b{_NO}\b(?!\s{{1,3}}(?:mind|care|object|matter))[^.;\n]{{0,40}}?\b{_SURNAME}\b"
    rf"|\b{_SURNAME}\b[^.;\n]{{0,30}}?\b(?:not|never|out|private|withheld)\b",
    re.IGNORECASE,
)


def asks_surname_withheld(conditions: str | None) -> bool:
    """Do the recipient's conditions ask that their surname is not used? Their words are
    free text, so this reads them as a facilitator would; tests/pure/test_flags.py holds
    the ways of asking it must and must not recognise."""
    return bool(conditions) and _WITHHOLD_SURNAME.search(conditions[:2000]) is not None
