"""Automatic review flags: contact details, addresses, links, threats, blame or minimising.

The patterns are shipped data (relay/data/review-flags.json) so that practice
can refine them without a code change. A flag only draws the facilitator's eye.

Anyone can type a letter, and Python's re backtracks: one unbounded repeat
(`+`, `*`, `{8,}`) let a crafted 20,000-character letter hold the review page for
over a second. Every repeat in the file is bounded, so the work per character
is capped; tests/pure/test_flags.py refuses a pattern that is not, and
bench/bench_flags.py times the worst letters we know.
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from relay.services.text import for_editing

RULES = Path(__file__).resolve().parent.parent / "data" / "review-flags.json"


@dataclass(frozen=True)
class Flag:
    kind: str
    excerpt: str


@cache
def _rules() -> dict[str, list[re.Pattern]]:
    raw = json.loads(RULES.read_text(encoding="utf-8"))
    return {
        kind: [re.compile(pattern, re.IGNORECASE) for pattern in patterns]
        for kind, patterns in raw.items()
        if not kind.startswith("_")
    }


def review_flags(stored_text: str) -> list[Flag]:
    """Each kind of concern found in a letter, with the words that raised it."""
    plain = for_editing(stored_text)
    found: list[Flag] = []
    for kind, patterns in _rules().items():
        for pattern in patterns:
            match = pattern.search(plain)
            if match:
                found.append(Flag(kind, match.group(0).strip()))
                break
    return found
