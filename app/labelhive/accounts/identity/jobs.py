"""The OpenID recheck as a job: run by the scheduler every ``OIDC_RECHECK_INTERVAL`` seconds,
and by ``labelhive users oidc-recheck``.

Each account is one transaction, committed before the next provider call: a refresh token the
provider rotated is stored at once (the old one no longer works), and no transaction is open
while the provider answers. When the provider gives no answer about anyone (unreachable,
LabelHive's client refused) the run stops there: nobody after that point is changed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from labelhive.accounts.identity import oidc
from labelhive.accounts.identity import recheck
from labelhive.accounts.identity import sealing
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.registry import job

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Summary:
    """What a recheck did; ``untracked`` names the accounts kept without a refresh token."""

    checked: int = 0
    disabled: int = 0
    roles_changed: int = 0
    untracked: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        text = (
            f"checked {self.checked}, disabled {self.disabled}, "
            f"roles changed {self.roles_changed}, without a refresh token {len(self.untracked)}"
        )
        if self.untracked:
            text += f" ({', '.join(self.untracked)}: kept until they sign in again)"
        return text


def run_recheck(settings: oidc.OidcSettings, now: dt.datetime | None = None) -> Summary:
    """Ask the provider about every enabled account linked to it, and apply the answers.

    The outer caller: commits each account's change.
    """
    now = now or utcnow()
    summary = Summary()
    accounts = recheck.linked(settings.issuer)
    db.session.commit()
    for account in accounts:
        token = sealing.unseal(account.sealed_token)
        answer: oidc.Refreshed | oidc.Revoked | None = None
        if token is not None:
            try:
                answer = oidc.refresh(account.subject, token)
            except oidc.ProviderUnavailable as exc:
                left = len(accounts) - summary.checked
                summary.error = f"{exc}; {left} account(s) left unchecked and unchanged"
                log.warning("OpenID recheck stopped, nobody else changed: %s", summary.error)
                break
        decision = recheck.decide(
            answer,
            settings.group_roles,
            last_sign_in=account.last_sign_in,
            max_age=settings.max_age_without_refresh,
            now=now,
        )
        rotated = answer.refresh_token if isinstance(answer, oidc.Refreshed) else None
        changed = recheck.apply(account.identity_id, decision, rotated)
        db.session.commit()
        summary.checked += 1
        if decision.action == recheck.UNTRACKED:
            summary.untracked.append(account.user_name)
        elif changed and decision.action == recheck.DISABLE:
            summary.disabled += 1
            log.info("OpenID recheck: %s disabled (%s)", account.user_name, decision.reason)
        elif changed:
            summary.roles_changed += 1
            log.info("OpenID recheck: roles of %s re-derived", account.user_name)
    return summary


# DEFAULT, not LOW: ending a leaver's access must not wait behind exports and consensus
@job("oidc_recheck", queue=queues.DEFAULT)
def oidc_recheck(job_id: str) -> dict[str, Any] | None:
    """The scheduler's periodic recheck (nothing to do when OpenID is not configured here)."""

    def body(_run: records.Run) -> dict[str, Any]:
        settings = oidc.configured()
        if settings is None:
            return {"skipped": "OpenID Connect is not configured"}
        return dataclasses.asdict(run_recheck(settings))

    return records.run_job(job_id, body)
