"""The one way mail leaves Relay: Flask-Mail behind the outbox's `Sender` signature."""

from flask import Flask
from flask_mail import Message

from relay.extensions import mail
from relay.services import outbox


def sender_for(app: Flask) -> outbox.Sender:
    def send(recipient: str, subject: str, body: str) -> None:
        with app.app_context():
            mail.send(Message(subject=subject, recipients=[recipient], body=body))

    return send


def dispatch(app: Flask) -> outbox.Dispatch:
    return outbox.dispatch_due(
        app.extensions["relay.sessionmaker"],
        app.extensions["relay.settings"].outbox_key,
        sender_for(app),
    )
