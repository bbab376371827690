"""How long the review flags take on 20,000-character letters built to be slow.

Each letter attacks one family of pattern: long runs with no "@" for the e-mail
pattern, digits and separators for the phone pattern, "www." and "http://"
repeats for links, house numbers and postcodes for addresses. A backtracking
pattern shows here as hundreds of milliseconds; linear ones stay at a few.
Run with `make bench`.
"""

import statistics
import time

from relay.services.flags import review_flags

LENGTH = 20_000


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
    "an ordinary letter": _fill("I am sorry for what I did to you and your family. "),
}


def main() -> None:
    print(f"review_flags on {LENGTH:,}-character letters (5 runs each)")
    for name, letter in LETTERS.items():
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            review_flags(letter)
            runs.append(time.perf_counter() - start)
        print(
            f"{name:<26} best {min(runs) * 1000:7.1f} ms"
            f"  median {statistics.median(runs) * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
