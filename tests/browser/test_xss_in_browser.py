"""The XSS corpus in a real browser: letters carrying every payload are reviewed by the
facilitator and read by the recipient, and nothing runs: no dialog opens, and the browser
reports no Content-Security-Policy violation."""

import pytest

from relay import demo
from relay.services import letters
from tests.browser.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.functional.test_xss import PAYLOADS

pytestmark = pytest.mark.slow


def test_no_payload_runs_for_the_facilitator_or_the_recipient(site, world, people):
    # Given letters carrying each payload, sent by the person responsible
    with site.session() as session:
        offender = demo.actor_for(session, site.settings, *PEOPLE["offender"][::2])
        victim = demo.actor_for(session, site.settings, *PEOPLE["victim"][::2])
        receive_letters(session, site.settings, victim, world.case.id, PAYLOADS[0])
        ids = []
        for index, payload in enumerate(PAYLOADS):
            body = f"Letter {index}: {payload}"
            draft = letters.save_draft(session, offender, world.case.id, None, body)
            letters.submit_letter(session, site.settings, offender, draft.id)
            ids.append(draft.id)
    dialogs: list[str] = []
    violations = site.app.extensions.setdefault("relay.csp_violations", [])

    def record(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    # When the facilitator reviews each of them in the browser
    facilitator = people("facilitator")
    facilitator.sign_in()
    facilitator.page.on("dialog", record)
    # (first proving, on a page of its own, that both detectors see what they are for: a
    # dialog opened from outside the page, and an inline script that the policy refuses)
    probe = facilitator.page.context.new_page()
    probe.on("dialog", record)
    probe.goto("/cases/")
    probe.evaluate("() => setTimeout(() => alert('probe'), 0)")
    probe.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = '1';"
        " document.body.append(s); }"
    )
    probe.wait_for_timeout(500)
    probe.close()
    assert dialogs == ["probe"] and violations, "the detectors must work"
    dialogs.clear()
    violations.clear()
    for letter_id in ids:
        facilitator.page.goto(f"/review/letters/{letter_id}")
        assert facilitator.page.get_by_role("heading", level=1).count() == 1
    with site.session() as session:
        approver = demo.actor_for(session, site.settings, *PEOPLE["facilitator"][::2])
        for letter_id in ids:
            letters.approve_letter(session, site.settings, approver, letter_id)

    # And the person harmed opens each one
    reader = people("victim")
    reader.sign_in()
    reader.page.on("dialog", record)
    for letter_id in ids:
        reader.page.goto(f"/my/received/{letter_id}")
        reader.page.get_by_role("button", name="Read it now").click()
        reader.page.wait_for_load_state()
        assert reader.page.locator("#letter-text").count() == 1
    reader.page.wait_for_timeout(500)  # let any report reach the server

    # Then no script ran and the browser reported no policy violation
    assert dialogs == []
    assert violations == []
