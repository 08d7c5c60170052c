"""The pure parts of the OpenID recheck: the rule, the sealing of refresh tokens, the settings
and the scheduler's entry."""

from __future__ import annotations

import datetime as dt

import pytest

from labelhive.accounts.identity import oidc
from labelhive.accounts.identity import sealing
from labelhive.accounts.identity.recheck import DISABLE
from labelhive.accounts.identity.recheck import KEEP
from labelhive.accounts.identity.recheck import ROLES
from labelhive.accounts.identity.recheck import UNTRACKED
from labelhive.accounts.identity.recheck import decide
from labelhive.accounts.identity.roles import Roles
from labelhive.accounts.identity.roles import parse_mapping
from labelhive.config import from_environ
from labelhive.jobs import scheduler

MAPPING = parse_mapping("admins=admin; owners=creator; labelers=annotator")
NOW = dt.datetime(2027, 1, 10, 12, 0)
DAY = 86400


def rule(answer, mapping=MAPPING, *, signed_in_days_ago=0, max_age=None):  # noqa: ANN001, ANN201
    last = NOW - dt.timedelta(days=signed_in_days_ago)
    return decide(answer, mapping, last_sign_in=last, max_age=max_age, now=NOW)


@pytest.mark.parametrize(
    ("groups", "action", "roles"),
    [
        (("labelers",), ROLES, Roles(admin=False, create_projects=False)),
        (("owners", "labelers"), ROLES, Roles(admin=False, create_projects=True)),
        (("admins",), ROLES, Roles(admin=True, create_projects=True)),
        (("sales",), DISABLE, None),
        ((), DISABLE, None),
    ],
)
def test_an_answer_re_derives_the_roles_or_disables_outside_the_groups(groups, action, roles):
    decision = rule(oidc.Refreshed(groups=groups))
    assert (decision.action, decision.roles) == (action, roles)


def test_a_refused_refresh_token_disables_whatever_the_groups():
    assert rule(oidc.Revoked("grant revoked")).action == DISABLE
    assert rule(oidc.Revoked("grant revoked"), mapping={}).action == DISABLE


def test_without_a_mapping_an_answer_keeps_the_account_and_its_roles():
    decision = rule(oidc.Refreshed(groups=()), mapping={})
    assert (decision.action, decision.roles) == (KEEP, None)


@pytest.mark.parametrize(
    ("days_ago", "max_age", "action"),
    [
        (400, None, UNTRACKED),  # the default: kept until the next sign-in
        (0, DAY, UNTRACKED),
        (2, DAY, DISABLE),
        (1, 2 * DAY, UNTRACKED),
    ],
)
def test_without_a_refresh_token_the_max_age_decides(days_ago, max_age, action):
    assert rule(None, signed_in_days_ago=days_ago, max_age=max_age).action == action


def test_a_sealed_token_opens_only_with_the_app_secret_or_a_fallback():
    sealed = sealing.seal_with(["secret-one"], "refresh-token-value")
    assert "refresh-token-value" not in sealed
    assert sealing.open_with(["secret-one"], sealed) == "refresh-token-value"
    # a rotation under way: the new key first, the old one as a fallback
    assert sealing.open_with(["secret-two", "secret-one"], sealed) == "refresh-token-value"
    assert sealing.open_with(["secret-two"], sealed) is None
    assert sealing.open_with(["secret-one"], sealed[:-4] + "AAAA") is None  # tampered
    assert sealing.open_with(["secret-one"], None) is None
    # sealing twice gives two different texts (random IV): equal tokens are not visible
    assert sealing.seal_with(["secret-one"], "t") != sealing.seal_with(["secret-one"], "t")


def test_the_settings_ask_for_offline_access_and_read_the_recheck_settings():
    base = {"OIDC_ISSUER": "https://id.example.org", "OIDC_CLIENT_ID": "labelhive"}
    settings = oidc.settings_from(from_environ(base))
    assert settings.requested_scopes == "openid email profile offline_access"
    assert (settings.recheck_interval, settings.max_age_without_refresh) == (300, None)
    env = {
        **base,
        "OIDC_OFFLINE_SCOPE": "",  # a provider that issues refresh tokens without a scope
        "OIDC_RECHECK_INTERVAL": "60",
        "OIDC_MAX_AGE_WITHOUT_REFRESH": "604800",
    }
    settings = oidc.settings_from(from_environ(env))
    assert settings.requested_scopes == "openid email profile"
    assert (settings.recheck_interval, settings.max_age_without_refresh) == (60, 604800)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_RECHECK_INTERVAL": "5m"}, "OIDC_RECHECK_INTERVAL must be a whole number"),
        ({"OIDC_MAX_AGE_WITHOUT_REFRESH": "-1"}, "OIDC_MAX_AGE_WITHOUT_REFRESH must be 0"),
        ({"OIDC_OFFLINE_SCOPE": "offline_access email"}, "OIDC_OFFLINE_SCOPE is one scope"),
    ],
)
def test_bad_recheck_settings_stop_the_app_with_a_sentence(env, message):
    base = {"OIDC_ISSUER": "https://id.example.org", "OIDC_CLIENT_ID": "labelhive"}
    with pytest.raises(RuntimeError, match=message):
        oidc.settings_from(from_environ({**base, **env}))


@pytest.mark.parametrize(
    ("env", "every"),
    [
        ({}, None),  # no OpenID: no recheck
        ({"OIDC_ISSUER": "https://id.example.org"}, 300),
        ({"OIDC_ISSUER": "https://id.example.org", "OIDC_RECHECK_INTERVAL": "45"}, 45),
        ({"OIDC_ISSUER": "https://id.example.org", "OIDC_RECHECK_INTERVAL": "0"}, None),
    ],
)
def test_the_scheduler_runs_the_recheck_only_where_openid_is_configured(env, every):
    jobs = {p.name: p for p in scheduler.schedule(from_environ(env))}
    assert (jobs["oidc_recheck"].every if "oidc_recheck" in jobs else None) == every
    if every:
        assert jobs["oidc_recheck"].job == "oidc_recheck"
