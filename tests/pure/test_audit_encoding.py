"""verify hashes each entry without `canonical_encoding` (issue "Performance and scale",
item 5): its shortcut, `audit._hash_of_row`, must give the very hash of the definition for
any value a row can hold, awkward text above all."""

import itertools
import random

import pytest

from relay import audit

AWKWARD_TEXT = [
    "",
    "letter.read",
    '{"first":false}',
    '"quoted"',
    "back\\slash",
    "\\u0000 spelt out",
    "tab\tnewline\ncarriage\rform\ffeed\bbell\a",
    "".join(chr(code) for code in range(32)),
    "\x7f delete",
    "é ß ø ñ",
    "Ελληνικά 中文 日本語",
    "😀 astral \U0010ffff",
    "\u2028 line and paragraph \u2029 separators",
    "lone surrogate \ud800",
    "</script><!--",
    "0" * 64,
    " leading and trailing ",
]
AWKWARD_NUMBERS = [None, 0, 1, -1, 7, 2**31, 2**63, -(2**63), 10**30]


def _both(values: dict) -> tuple[str, str]:
    return audit.entry_hash_of(**values), audit._hash_of_row(**values)


def _values(text: str, number: int | None, sequence: int = 1) -> dict:
    return {
        "sequence": sequence,
        "at": text,
        "actor_id": number,
        "action": text[::-1],
        "case_id": number,
        "letter_id": None if number is None else -number,
        "details": text,
        "prev_hash": text + "x",
    }


def test_the_shortcut_matches_the_known_answer():
    values = {
        "sequence": 1,
        "at": "2026-01-02T03:04:05.000006Z",
        "actor_id": 7,
        "action": "letter.approved",
        "case_id": 3,
        "letter_id": 9,
        "details": '{"version":2}',
        "prev_hash": audit.GENESIS_HASH,
    }
    assert audit._hash_of_row(**values) == (
        "f269575232408e154992ea60c6b2bf1ded135902059e302c46823d736bef940c"
    )


@pytest.mark.parametrize(("text", "number"), list(itertools.product(AWKWARD_TEXT, AWKWARD_NUMBERS)))
def test_the_shortcut_hashes_awkward_values_as_the_definition_does(text, number):
    definition, shortcut = _both(_values(text, number, sequence=abs(number or 0) + 1))
    assert shortcut == definition


def test_the_shortcut_hashes_random_text_as_the_definition_does():
    """Every plane of Unicode, surrogates and control characters included."""
    rng = random.Random(12)  # noqa: S311 - test data, not a secret
    for _ in range(2_000):
        text = "".join(
            chr(rng.choice([rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0x110000)]))
            for _ in range(rng.randrange(40))
        )
        number = rng.choice([None, rng.randrange(-(2**40), 2**40)])
        definition, shortcut = _both(_values(text, number, sequence=rng.randrange(1, 10**9)))
        assert shortcut == definition, ascii(text)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        # What only a hand in the database could put there (SQLite keeps any type in any
        # column), or a Python caller: json writes them otherwise, so the definition decides.
        ("actor_id", True),
        ("case_id", False),
        ("sequence", True),
        ("letter_id", 7.5),
        ("actor_id", "7"),
        ("action", 7),
    ],
)
def test_the_shortcut_leaves_values_of_another_type_to_the_definition(column, value):
    values = _values("x", 3)
    values[column] = value
    definition, shortcut = _both(values)
    assert shortcut == definition


def test_a_value_json_cannot_write_fails_as_in_the_definition():
    values = _values("x", 3)
    values["letter_id"] = b"bytes"
    with pytest.raises(TypeError):
        audit.entry_hash_of(**values)
    with pytest.raises(TypeError):
        audit._hash_of_row(**values)
