"""The pure parts of identity sign-in: group mappings, roles, and the settings that refuse to
start when they are wrong (for OpenID Connect and LDAP alike)."""

from __future__ import annotations

import pytest

from labelhive.accounts.identity import ldap
from labelhive.accounts.identity import oidc
from labelhive.accounts.identity.roles import MappingError
from labelhive.accounts.identity.roles import Roles
from labelhive.accounts.identity.roles import groups_from_claim
from labelhive.accounts.identity.roles import parse_mapping
from labelhive.accounts.identity.roles import roles_for
from labelhive.config import from_environ

MAPPING = parse_mapping(
    "Admins=admin; cn=owners,ou=groups,dc=example,dc=org=creator;\nlabelers = annotator"
)


def test_a_mapping_keeps_dns_whole_and_ignores_case():
    assert MAPPING == {
        "admins": "admin",
        "cn=owners,ou=groups,dc=example,dc=org": "creator",
        "labelers": "annotator",
    }


@pytest.mark.parametrize(
    ("groups", "roles"),
    [
        (["ADMINS"], Roles(admin=True, create_projects=True)),
        (["CN=Owners,ou=groups,dc=example,dc=org"], Roles(admin=False, create_projects=True)),
        (["labelers", "sales"], Roles(admin=False, create_projects=False)),
        (["labelers", "admins"], Roles(admin=True, create_projects=True)),
        (["sales"], None),
        ([], None),
    ],
)
def test_roles_are_the_union_of_the_groups_and_none_outside_them(groups, roles):
    assert roles_for(groups, MAPPING) == roles


@pytest.mark.parametrize("text", ["admins", "=admin", "admins=owner", "a=admin;b"])
def test_a_malformed_mapping_names_the_entry(text):
    with pytest.raises(MappingError, match="OIDC_GROUP_ROLES"):
        parse_mapping(text, "OIDC_GROUP_ROLES")


def test_a_groups_claim_may_be_a_list_or_one_string():
    assert groups_from_claim(["a", "b", 3, None]) == ["a", "b", "3"]
    assert groups_from_claim("a") == ["a"]
    assert groups_from_claim({"a": 1}) == []


def test_settings_come_from_the_environment_and_are_off_by_default():
    config = from_environ({})
    assert oidc.settings_from(config) is None
    assert ldap.settings_from(config) is None
    env = {
        "OIDC_ISSUER": "https://id.example.org/realms/lab/",
        "OIDC_CLIENT_ID": "labelhive",
        "OIDC_CLIENT_SECRET": "s3cret",
        "OIDC_SCOPES": "email groups",
        "OIDC_GROUP_ROLES": "lab-admins=admin",
        "LDAP_URL": "ldap://ldap.example.org",
        "LDAP_USER_BASE": "ou=people,dc=example,dc=org",
        "LDAP_GROUP_ROLES": "cn=a,dc=example,dc=org=admin",
    }
    settings = oidc.settings_from(from_environ(env))
    assert settings.issuer == "https://id.example.org/realms/lab"
    assert settings.scopes == "openid email groups"
    assert settings.group_roles == {"lab-admins": "admin"}
    directory = ldap.settings_from(from_environ(env))
    assert directory.starttls is True
    assert directory.group_roles == {"cn=a,dc=example,dc=org": "admin"}
    assert ldap.settings_from(from_environ({**env, "LDAP_URL": "ldaps://x"})).starttls is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_ISSUER": "https://id.example.org"}, "OIDC_CLIENT_ID"),
        (
            {"OIDC_ISSUER": "https://x", "OIDC_CLIENT_ID": "c", "OIDC_GROUP_ROLES": "x"},
            "group=role",
        ),
        ({"LDAP_URL": "http://ldap.example.org"}, "ldap:// or ldaps://"),
        ({"LDAP_URL": "ldap://x"}, "LDAP_USER_BASE"),
        (
            {"LDAP_URL": "ldap://x", "LDAP_USER_BASE": "o=x", "LDAP_USER_FILTER": "(uid=*)"},
            "{login}",
        ),
    ],
)
def test_bad_settings_stop_the_app_with_a_sentence(env, message):
    config = from_environ(env)
    with pytest.raises(RuntimeError, match=message.replace("{", "\\{").replace("/", "/")):
        (oidc.settings_from(config), ldap.settings_from(config))
