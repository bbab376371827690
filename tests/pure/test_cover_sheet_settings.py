"""The return address printed on a cover sheet (issue 10, item 2): RETURN_ADDRESS, several
lines from one environment variable. Development and tests print a made-up address;
production prints only what its operator set, and refuses the made-up one by name, since
a letter sent back to it would be lost."""

import base64
import secrets

import pytest

from config.settings import DEV_RETURN_ADDRESS
from config.settings import ConfigError
from config.settings import load_settings
from relay.services.settings import settings_from_config


def _production(**overrides: str) -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SESSION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": "postgresql+psycopg://relay@db.internal/relay",
        **overrides,
    }


def test_development_and_tests_print_a_made_up_address_of_several_lines():
    for name in ("development", "test"):
        address = load_settings(name, environ={})["RETURN_ADDRESS"]
        assert address == DEV_RETURN_ADDRESS
        assert len(address.splitlines()) >= 3
    assert "ZZ99" in DEV_RETURN_ADDRESS  # a postcode no real address has


def test_lines_come_from_newlines_or_from_backslash_n_in_one_line():
    # Real newlines (a shell's $'...', a YAML block) and "\n" written out (an env file,
    # which holds one line per variable) give the same address; spaces at line ends go.
    typed = "Relay RJ Service  \nPO Box 12\r\nLeeds\nLS1 1AA\n"
    one_line = r"Relay RJ Service\nPO Box 12\nLeeds\nLS1 1AA"
    for raw in (typed, one_line):
        settings = load_settings("production", environ=_production(RETURN_ADDRESS=raw))
        assert settings["RETURN_ADDRESS"] == "Relay RJ Service\nPO Box 12\nLeeds\nLS1 1AA"


def test_production_starts_without_one_and_prints_no_cover_sheet_until_it_is_set():
    # Not refused at start: a service may have nobody on paper yet, and the cover sheet's
    # page names the setting when it is missing.
    assert load_settings("production", environ=_production())["RETURN_ADDRESS"] == ""
    blank = load_settings("production", environ=_production(RETURN_ADDRESS="  \n "))
    assert blank["RETURN_ADDRESS"] == ""


def test_production_refuses_the_made_up_address_by_name():
    for raw in (DEV_RETURN_ADDRESS, DEV_RETURN_ADDRESS.replace("\n", r"\n") + "\n"):
        with pytest.raises(ConfigError, match="RETURN_ADDRESS"):
            load_settings("production", environ=_production(RETURN_ADDRESS=raw))


def test_services_are_given_the_address_as_set():
    config = load_settings("test", environ={"RETURN_ADDRESS": r"Victim Services\nPO Box 9"})
    assert settings_from_config(config).return_address == "Victim Services\nPO Box 9"
