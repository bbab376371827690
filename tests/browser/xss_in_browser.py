"""The XSS corpus in a real browser: letters carrying every payload are reviewed by the
facilitator and read by the recipient, and nothing runs: no dialog opens, and the browser
reports no Content-Security-Policy violation.

The corpus is long (tests/data/xss_payloads.txt, 125 payloads), and a browser takes most
of a second for each payload's two pages: in one test, this was the suite's longest by far.
So it is checked in PARTS parts, each the same test on its own share of the payloads, each
in a file of its own (test_xss_in_browser_<n>.py): pytest-xdist gives whole files to its
workers (`--dist loadfile`), and so can run the parts side by side.
test_xss_in_browser_1.py also proves that the parts together are the whole corpus.
"""

import math

from playwright.sync_api import BrowserContext

from relay import demo
from relay.services import letters
from tests.browser.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.factories import approve_as_reviewed
from tests.web.test_xss import PAYLOADS

PARTS = 4

# Every page of a context keeps the violations the browser finds in it (the same ones
# it reports to the server), from before the page's own content is parsed.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  event => window.__cspViolations.push(event.effectiveDirective));
"""
VIOLATIONS = "() => window.__cspViolations"

# An inline script, which the policy refuses; resolves once the browser has reported it.
INLINE_SCRIPT = """() => new Promise(resolve => {
  document.addEventListener("securitypolicyviolation",
    event => resolve(event.effectiveDirective), {once: true});
  const script = document.createElement("script");
  script.textContent = "1";
  document.body.append(script);
})"""


def payloads_of(part: int) -> list[tuple[int, str]]:
    """Part `part` (1 to PARTS) of the corpus: consecutive payloads, with their place in it."""
    assert 1 <= part <= PARTS, part
    size = math.ceil(len(PAYLOADS) / PARTS)
    start = (part - 1) * size
    return list(enumerate(PAYLOADS))[start : start + size]


def provoke_a_violation(context: BrowserContext, record) -> None:
    """A page of its own (outside the `people` fixture's watch, which fails a test on the
    refusal this causes) that opens a dialog from outside the page, then breaks the
    policy and waits until the server has answered the browser's report."""
    page = context.new_page()
    page.on("dialog", record)
    page.goto("/")
    with page.expect_event("dialog"):
        page.evaluate("() => setTimeout(() => alert('probe'), 0)")
    with page.expect_response("**/csp-report") as report:
        assert page.evaluate(INLINE_SCRIPT) == "script-src-elem"
    assert report.value.status == 204
    page.close()


def no_payload_runs_for_the_facilitator_or_the_recipient(site, world, people, part: int) -> None:
    """The test of each part: its payloads, each on the review page and on the page that
    shows the letter to its recipient."""
    # Given letters carrying each payload, sent by the person responsible (and the
    # corpus's first as the conditions the person harmed set, shown on each review page)
    with site.session() as session:
        offender = demo.actor_for(session, site.settings, *PEOPLE["offender"][::2])
        victim = demo.actor_for(session, site.settings, *PEOPLE["victim"][::2])
        receive_letters(session, site.settings, victim, world.case.id, PAYLOADS[0])
        ids = []
        for index, payload in payloads_of(part):
            body = f"Letter {index}: {payload}"
            draft = letters.save_draft(session, offender, world.case.id, None, body)
            letters.submit_letter(session, site.settings, offender, draft.id)
            ids.append(draft.id)
    dialogs: list[str] = []
    violations: dict[str, list[str]] = {}

    def record(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    # When the facilitator reviews each of them in the browser
    facilitator = people("facilitator")
    facilitator.page.context.add_init_script(WATCH_VIOLATIONS)
    facilitator.sign_in()
    facilitator.page.on("dialog", record)
    # (first proving that the detectors see what they are for: a dialog opened from
    # outside the page, and an inline script that the policy refuses, which the browser
    # reports to the server and the server logs)
    provoke_a_violation(facilitator.page.context, record)
    assert dialogs == ["probe"], "the dialog detector must work"
    assert site.csp_violations() == ["script-src-elem"], "the server must log a report"
    dialogs.clear()
    for letter_id in ids:
        facilitator.page.goto(f"/review/letters/{letter_id}")
        assert facilitator.page.get_by_role("heading", level=1).count() == 1
        violations[f"review {letter_id}"] = facilitator.page.evaluate(VIOLATIONS)
    with site.session() as session:
        approver = demo.actor_for(session, site.settings, *PEOPLE["facilitator"][::2])
        for letter_id in ids:
            approve_as_reviewed(session, site.settings, approver, letter_id)

    # And the person harmed opens each one
    reader = people("victim")
    reader.page.context.add_init_script(WATCH_VIOLATIONS)
    reader.sign_in()
    reader.page.on("dialog", record)
    for letter_id in ids:
        reader.page.goto(f"/my/received/{letter_id}")
        reader.ui.follow(reader.page.get_by_role("button", name="Read it now"))
        assert reader.page.locator("#letter-text").count() == 1
        violations[f"read {letter_id}"] = reader.page.evaluate(VIOLATIONS)

    # Then no script ran, and the browser found no policy violation on any page (each
    # page's list is complete once it has loaded: a refusal while the page is parsed, or
    # while its images load, is dispatched before its load event)
    assert len(violations) == 2 * len(ids)
    assert dialogs == []
    assert {page: found for page, found in violations.items() if found} == {}
    # And the server was sent no report but the probes': a last one, answered, comes
    # after any report sent from the pages before it
    provoke_a_violation(reader.page.context, record)
    assert dialogs == ["probe"]
    assert site.csp_violations() == ["script-src-elem", "script-src-elem"]
