"""How long the review flags take on 20,000-character letters built to be slow.

Each letter attacks one family of rule: long runs with no "@" for the e-mail
patterns, digits and separators for phonenumbers, "www." and "http://" repeats
for links, house numbers and postcodes for addresses, the first words of the
phrase rules, names and capitalised words for the name rules, and a letter full
of things to flag. A backtracking pattern shows here as hundreds of milliseconds;
linear ones stay at tens. The run fails (exit status 1) when any letter's best
time is over BUDGET. Run with `make bench`.
"""

import statistics
import sys
import time

from relay.services.flags import CaseNames
from relay.services.flags import review_flags

LENGTH = 20_000  # relay/services/limits.py LETTER_CHARACTERS
# A review page is one request; the flags may take a tenth of a second of it even for
# the worst letter anyone has built, and a real letter takes a few milliseconds.
BUDGET = 0.100  # seconds
NAMES = CaseNames(("Chris Smith", "Chris", "Smith", "Asha Patel", "Asha", "Patel"), ("Patel",))


def _fill(unit: str) -> str:
    return (unit * (LENGTH // len(unit) + 1))[:LENGTH]


LETTERS = {
    "word characters, no @": _fill("a"),
    "digits, no @": _fill("7"),
    "dots": _fill("."),
    "word.word.": _fill("a."),
    "x@ then a word run": "x@" + _fill("a")[2:],
    "a@a repeated": _fill("a@a"),
    "a@a. repeated": _fill("a@a.-"),
    "digits and spaces": _fill("1 "),
    "a digit then separators": "1" + _fill("-")[1:],
    "brackets and digits": _fill("(1) "),
    "www. repeated": _fill("www."),
    "www. with spaces": _fill("www. "),
    "http:// repeated": _fill("http://"),
    "house numbers and words": _fill("12 " + "a" * 40 + " "),
    "postcode then spaces": "SW1" + _fill(" ")[3:],
    "phone numbers, one run": _fill("07700 900123 "),
    "phone numbers between letters": _fill("07700900123a"),
    "short digit groups": _fill("12 "),
    "first words of phrases": _fill("i you it was not my the please can "),
    "capitalised words": _fill("Mark Will Darren Street Road "),
    "held names": _fill("Chris Smith Patel "),
    "everything to flag": _fill(
        "I know where you live. Please forgive me. It wasn't my fault. Ring 07700 900123, "
        "jo@example.com, www.example.org, @jo, SW1A 1AA, 12 Example Street, Darren, parole. "
    ),
    "an ordinary letter": _fill("I am sorry for what I did to you and your family. "),
}


def main() -> int:
    print(
        f"review_flags on {LENGTH:,}-character letters (5 runs each), budget {BUDGET * 1000:.0f} ms"
    )
    over = []
    for name, letter in LETTERS.items():
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            review_flags(letter, NAMES)
            runs.append(time.perf_counter() - start)
        print(
            f"{name:<30} best {min(runs) * 1000:7.1f} ms"
            f"  median {statistics.median(runs) * 1000:7.1f} ms"
        )
        if min(runs) > BUDGET:
            over.append(name)
    if over:
        print(f"over budget: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
