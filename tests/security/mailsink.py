"""A local SMTP server (aiosmtpd) on a free loopback port that keeps every message it gets."""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.common.processes import free_port


class MailSink:
    """Collects the messages; ``config`` is the app's SMTP configuration for it."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"

    @property
    def config(self) -> dict[str, object]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "labelhive@test.example",
        }

    def link(self, to: str) -> str:
        """The path of the last link mailed to ``to``."""
        for message in reversed(self.messages):
            if message["To"] == to:
                body = message.get_content()
                return re.search(r"https?://[^/\s]+(/\S+)", body).group(1)
        raise AssertionError(f"no mail to {to}: {[m['To'] for m in self.messages]}")


@contextlib.contextmanager
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
