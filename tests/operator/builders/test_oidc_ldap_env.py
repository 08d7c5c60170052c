"""``spec.identity``: the web container gets the app's OpenID Connect and LDAP settings, secrets
by Secret reference only; the CRD accepts the block and its defaults equal the model's; and the
app reads exactly the variables the builder writes."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from labelhive.accounts.identity import ldap
from labelhive.accounts.identity import oidc
from labelhive.config import from_environ
from labelhive_operator.render import render_project
from labelhive_operator.spec import ProjectSpec
from tests.operator.conftest import load_example
from tests.operator.test_crd import apply_defaults

IDENTITY = {
    "oidc": {
        "issuer": "https://id.example.org/realms/lab",
        "clientId": "labelhive",
        "clientSecretRef": {"name": "sso", "key": "client-secret"},
        "groupRoles": "lh-admins=admin; labelers=annotator",
    },
    "ldap": {
        "url": "ldaps://ldap.example.org",
        "userBase": "ou=people,dc=example,dc=org",
        "groupBase": "ou=groups,dc=example,dc=org",
        "bindDN": "cn=reader,dc=example,dc=org",
        "bindPasswordRef": {"name": "ldap", "key": "password"},
        "caRef": {"name": "ldap", "key": "ca.crt"},
    },
    "breakGlassAdmins": ["root"],
}


def body() -> dict[str, Any]:
    project = load_example("minimal")
    project["spec"]["identity"] = copy.deepcopy(IDENTITY)
    return project


def web_env(project: dict[str, Any]) -> list[dict[str, Any]]:
    (web,) = [
        o
        for o in render_project(project)
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-web")
    ]
    (app,) = [c for c in web["spec"]["template"]["spec"]["containers"] if c["name"] == "web"]
    return app["env"]


def test_the_crd_accepts_identity_and_its_defaults_are_the_models(crd_schema):
    project = body()
    jsonschema.Draft7Validator(crd_schema).validate(project)
    spec = project["spec"]
    defaulted = apply_defaults(crd_schema["properties"]["spec"], copy.deepcopy(spec))
    assert defaulted["identity"]["sessionSeconds"] == 28800
    assert ProjectSpec.model_validate(defaulted) == ProjectSpec.model_validate(spec)
    for path, bad in [(("ldap", "url"), "http://ldap.example.org"), (("sessionSeconds",), 0)]:
        broken = body()
        target = broken["spec"]["identity"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        assert list(jsonschema.Draft7Validator(crd_schema).iter_errors(broken)), path
    broken = body()
    del broken["spec"]["identity"]["oidc"]["clientSecretRef"]
    assert list(jsonschema.Draft7Validator(crd_schema).iter_errors(broken))


def test_secrets_go_by_reference_and_the_app_reads_what_is_written():
    env = web_env(body())
    by_name = {e["name"]: e for e in env}
    assert by_name["OIDC_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "sso", "key": "client-secret"}
    }
    assert by_name["LDAP_BIND_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "ldap"
    assert by_name["LDAP_CA_CERT"]["valueFrom"]["secretKeyRef"]["key"] == "ca.crt"
    assert all("value" not in e for e in env if "SECRET" in e["name"] or "PASSWORD" in e["name"])
    # what the kubelet would give the process, with the Secrets' values filled in
    environ = {
        e["name"]: e.get("value", f"secret:{e['name']}")
        for e in env
        if "value" in e or "secretKeyRef" in e.get("valueFrom", {})
    }
    config = from_environ(environ)
    settings = oidc.settings_from(config)
    assert (settings.issuer, settings.client_id) == (
        "https://id.example.org/realms/lab",
        "labelhive",
    )
    assert settings.client_secret == "secret:OIDC_CLIENT_SECRET"
    assert settings.group_roles == {"lh-admins": "admin", "labelers": "annotator"}
    directory = ldap.settings_from(config)
    assert (directory.url, directory.bind_dn) == (
        "ldaps://ldap.example.org",
        "cn=reader,dc=example,dc=org",
    )
    assert directory.ca_cert == "secret:LDAP_CA_CERT"
    assert config["BREAK_GLASS_ADMINS"] == "root"
    assert config["IDENTITY_SESSION_SECONDS"] == 28800


def test_no_identity_block_no_sign_in_settings():
    names = {e["name"] for e in web_env(load_example("minimal"))}
    assert not {n for n in names if n.startswith(("OIDC_", "LDAP_"))}
