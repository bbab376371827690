"""How a party reaches the service (issue 9, item 8): SERVICE_CONTACT_TEXT. Development
and the demo show a made-up number; production shows only what its operator set, never
the made-up one."""

import base64
import secrets

import pytest

from config.settings import DEV_SERVICE_CONTACT_TEXT
from config.settings import ConfigError
from config.settings import load_settings


def _production(**overrides: str) -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SESSION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": "postgresql+psycopg://relay@db.internal/relay",
        **overrides,
    }


def test_development_and_tests_show_a_made_up_number():
    for name in ("development", "test"):
        assert load_settings(name, environ={})["SERVICE_CONTACT_TEXT"] == DEV_SERVICE_CONTACT_TEXT
    # Ofcom's range for drama (0808 157 0000 to 0999): nobody answers it.
    assert "0808 157 0" in DEV_SERVICE_CONTACT_TEXT


def test_production_shows_nothing_until_its_operator_sets_the_text():
    assert load_settings("production", environ=_production())["SERVICE_CONTACT_TEXT"] == ""


def test_the_text_comes_from_the_environment():
    text = "Call 0300 123 4567, Monday to Friday 9am to 5pm"
    for name in ("development", "production"):
        settings = load_settings(name, environ=_production(SERVICE_CONTACT_TEXT=text))
        assert settings["SERVICE_CONTACT_TEXT"] == text


def test_production_refuses_the_made_up_number_by_name():
    with pytest.raises(ConfigError, match="SERVICE_CONTACT_TEXT"):
        load_settings(
            "production", environ=_production(SERVICE_CONTACT_TEXT=DEV_SERVICE_CONTACT_TEXT)
        )
