"""The XSS corpus in a real browser, part 1 of xss_in_browser.PARTS (see xss_in_browser.py),
and the proof that the parts together check every payload."""

import importlib

import pytest

from tests.browser.xss_in_browser import PARTS
from tests.browser.xss_in_browser import no_payload_runs_for_the_facilitator_or_the_recipient
from tests.browser.xss_in_browser import payloads_of
from tests.web.test_xss import PAYLOADS

PART = 1


@pytest.mark.slow
def test_no_payload_runs_for_the_facilitator_or_the_recipient(site, world, people):
    no_payload_runs_for_the_facilitator_or_the_recipient(site, world, people, PART)


def test_the_parts_together_are_the_whole_corpus_once():
    # One file for each part, each checking its own part
    for part in range(1, PARTS + 1):
        module = importlib.import_module(f"tests.browser.test_xss_in_browser_{part}")
        assert module.PART == part
    # And every payload, in order, in exactly one part
    checked = [payload for part in range(1, PARTS + 1) for _index, payload in payloads_of(part)]
    assert checked == PAYLOADS
