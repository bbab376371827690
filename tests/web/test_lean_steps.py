"""Each step does its work once (issue "Performance and scale", item 4): sending a letter
does not read back or decrypt what it has just written."""

from tests.web.test_constant_sql import counted


def test_sending_a_letter_reads_nothing_back(app, client, auth, world):
    auth.sign_in("offender")
    client.get(f"/my/cases/{world.case.id}/write")
    with counted(app) as statements:
        sent = client.post(
            f"/my/cases/{world.case.id}/write", data={"text": "Hello there", "send": "1"}
        )
    assert sent.status_code == 302
    selects = [s for s in statements if s.lstrip().startswith("SELECT")]
    # The seal just written is never read back to decrypt the text just sealed, and the
    # letter row just inserted is never selected again.
    assert not [s for s in selects if "FROM content_key_seals" in s]
    assert not [s for s in selects if "FROM letters" in s]
    assert len(statements) <= 30, len(statements)


def test_a_signed_in_page_resumes_the_session_in_one_query(app, client, auth, world):
    auth.sign_in("victim")
    client.get("/my/")
    with counted(app) as statements:
        assert client.get("/my/").status_code == 200
    resumed = [s for s in statements if "FROM user_sessions" in s or "FROM users" in s]
    assert len(resumed) == 1, resumed
    assert "JOIN users" in resumed[0]
