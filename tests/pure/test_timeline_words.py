"""Every action the code audits on a case has its own words on the case's timeline
(relay/services/timeline.py WORDS): a new action is worded when it is written, not shown
as its code name; and no words wait for an action the code never writes."""

import re
from pathlib import Path

from relay.services.timeline import WORDS

RELAY = Path(__file__).resolve().parents[2] / "relay"
# Actions about an account or the service as a whole: never on a case's trail.
NOT_ON_A_CASE = {
    "account.closed",
    "account.created",
    "account.data_exported",  # a party's own data, from all their cases at once
    "account.kdf_limits_raised",
    "account.notices_changed",
    "account.staff_access_restored",
    "dashboard.exported",  # the figures of many cases, never one case's
    "invitation.revoked",  # staff invitations only
}


def _written() -> set[str]:
    """The audit actions written as string literals in the services and commands (where
    every entry is written; the words themselves left out), and the gates' actions, which
    are made from each gate's name."""
    found = {f"case.gate.{gate}" for gate in ("consent", "admission", "risk", "no_contact")}
    for source in [*(RELAY / "services").glob("*.py"), RELAY / "cli.py"]:
        text = re.sub(r"#.*", "", source.read_text())  # not the examples in comments
        if source.name == "timeline.py":
            text = re.sub(r"WORDS = \{.*?\n\}\n", "", text, flags=re.S)
        found.update(
            re.findall(
                r'"((?:case|letter|party|invitation|account|survey|dashboard)\.[a-z_.]+)"', text
            )
        )
    return found


def test_every_action_written_on_a_case_has_its_words():
    assert sorted(_written() - NOT_ON_A_CASE - set(WORDS)) == []


def test_no_words_wait_for_an_action_never_written():
    assert sorted(set(WORDS) - _written()) == []
