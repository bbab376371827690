"""The one way mail leaves Relay: Flask-Mail behind the outbox's `Sender` signature."""

import smtplib
from email.utils import parseaddr

from flask import Flask
from flask_mail import Connection
from flask_mail import Message

from relay.services import outbox


class _TimedConnection(Connection):
    """Flask-Mail's connection with a timeout: a silent mail server must not hang the worker."""

    def __init__(self, state, timeout: float) -> None:
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        kind = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = kind(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def _mail_domain(sender: str | tuple[str, str] | None) -> str:
    """The domain of the configured sender, for Message-IDs; a reserved one if it has none."""
    address = sender[1] if isinstance(sender, tuple) else parseaddr(sender or "")[1]
    _local, at, domain = address.rpartition("@")
    return domain if at and domain else "relay.invalid"


def sender_for(app: Flask) -> outbox.Sender:
    def send(recipient: str, subject: str, body: str, reference: str) -> None:
        with app.app_context():
            message = Message(subject=subject, recipients=[recipient], body=body)
            # Flask-Mail makes a new Message-ID per Message; a retry must carry the same one.
            domain = _mail_domain(app.config.get("MAIL_DEFAULT_SENDER"))
            message.msgId = f"<{reference}@{domain}>"
            state = app.extensions["mail"]
            with _TimedConnection(state, app.config["MAIL_TIMEOUT"]) as connection:
                connection.send(message)

    return send


def dispatch(app: Flask, limit: int = 100) -> outbox.Dispatch:
    return outbox.dispatch_due(
        app.extensions["relay.sessionmaker"],
        app.extensions["relay.settings"].outbox_key,
        sender_for(app),
        send_timeout=app.config["MAIL_TIMEOUT"],
        limit=limit,
    )
