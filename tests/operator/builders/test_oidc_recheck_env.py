"""``spec.identity.oidc``'s recheck settings: the CRD takes them, the worker (which runs the
recheck) gets every sign-in setting, the scheduler (which enqueues it) the same ones but no
Secret, and the app reads what is written."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from labelhive.accounts.identity import oidc
from labelhive.config import from_environ
from labelhive.jobs import scheduler
from labelhive_operator.render import render_project
from tests.operator.builders.test_oidc_ldap_env import body


def containers(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for o in render_project(project):
        if o["kind"] == "Deployment":
            for c in o["spec"]["template"]["spec"]["containers"]:
                out[c["name"]] = c
    return out


def environ(container: dict[str, Any]) -> dict[str, str]:
    """What the kubelet would give the process, with the Secrets' values filled in."""
    return {
        e["name"]: e.get("value", f"secret:{e['name']}")
        for e in container["env"]
        if "value" in e or "secretKeyRef" in e.get("valueFrom", {})
    }


def test_the_crd_takes_the_recheck_settings_and_refuses_bad_ones(crd_schema):
    project = body()
    project["spec"]["identity"]["oidc"].update(
        recheckIntervalSeconds=60, maxAgeWithoutRefreshSeconds=604800, offlineScope=""
    )
    jsonschema.Draft7Validator(crd_schema).validate(project)
    for key, bad in [
        ("recheckIntervalSeconds", -1),
        ("maxAgeWithoutRefreshSeconds", -5),
        ("offlineScope", "offline_access email"),
    ]:
        broken = copy.deepcopy(project)
        broken["spec"]["identity"]["oidc"][key] = bad
        assert list(jsonschema.Draft7Validator(crd_schema).iter_errors(broken)), key


def test_the_worker_and_the_scheduler_get_what_the_recheck_needs():
    project = body()
    project["spec"]["identity"]["oidc"].update(
        recheckIntervalSeconds=60, maxAgeWithoutRefreshSeconds=604800, offlineScope=""
    )
    by_name = containers(project)
    worker = oidc.settings_from(from_environ(environ(by_name["worker"])))
    assert worker.client_secret == "secret:OIDC_CLIENT_SECRET"
    assert (worker.recheck_interval, worker.max_age_without_refresh) == (60, 604800)
    assert worker.requested_scopes == "openid email profile"  # offlineScope "" reaches the app
    web = oidc.settings_from(from_environ(environ(by_name["web"])))
    assert web == worker
    scheduler_env = environ(by_name["scheduler"])
    assert not any(
        "SECRET" in n or "PASSWORD" in n or "CA_CERT" in n
        for n in scheduler_env
        if n.startswith(("OIDC_", "LDAP_"))
    )
    jobs = {p.name: p.every for p in scheduler.schedule(from_environ(scheduler_env))}
    assert jobs["oidc_recheck"] == 60


def test_the_defaults_recheck_every_five_minutes_and_ask_for_offline_access():
    settings = oidc.settings_from(from_environ(environ(containers(body())["worker"])))
    assert settings.recheck_interval == 300
    assert settings.max_age_without_refresh is None
    assert settings.requested_scopes.endswith("offline_access")
