"""The XSS corpus in a real browser, part 2 of xss_in_browser.PARTS (see xss_in_browser.py)."""

import pytest

from tests.browser.xss_in_browser import no_payload_runs_for_the_facilitator_or_the_recipient

PART = 2


@pytest.mark.slow
def test_no_payload_runs_for_the_facilitator_or_the_recipient(site, world, people):
    no_payload_runs_for_the_facilitator_or_the_recipient(site, world, people, PART)
