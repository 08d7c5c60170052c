"""Sending e-mail (address verification) over SMTP with :mod:`smtplib`.

Settings come from the environment (:mod:`labelhive.config`): ``SMTP_HOST`` (unset: no mail
can be sent), ``SMTP_PORT`` (587), ``SMTP_USERNAME``/``SMTP_PASSWORD`` (optional login),
``SMTP_SECURITY`` (``starttls``, ``tls`` for implicit TLS, or ``none``) and ``MAIL_FROM``.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any


class MailError(RuntimeError):
    """The mail could not be sent; the message says why (never the password)."""


def configured(config: Mapping[str, Any]) -> bool:
    return bool(config.get("SMTP_HOST"))


def send(config: Mapping[str, Any], to: str, subject: str, body: str) -> None:
    """Send one plain-text message.

    :raise MailError: SMTP is not configured, or the server refused or could not be reached.
    """
    if not configured(config):
        raise MailError("This site cannot send e-mail (SMTP_HOST is not set).")
    message = EmailMessage()
    message["From"] = config.get("MAIL_FROM") or "labelhive@localhost"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    host, port = config["SMTP_HOST"], int(config.get("SMTP_PORT") or 587)
    security = (config.get("SMTP_SECURITY") or "starttls").lower()
    if security not in ("starttls", "tls", "none"):
        raise MailError(f"SMTP_SECURITY must be starttls, tls or none (got {security!r}).")
    timeout = float(config.get("SMTP_TIMEOUT") or 10)
    try:
        if security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"The e-mail could not be sent ({type(exc).__name__}).") from None
