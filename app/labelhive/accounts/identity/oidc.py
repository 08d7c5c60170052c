"""OpenID Connect through Authlib: authorization code with PKCE (S256), the provider found by
discovery from the issuer URL, the ID token checked (signature through the provider's JWKS,
issuer, audience, expiry, nonce) before any claim is read.

Authlib keeps the ``state``, ``nonce`` and PKCE verifier of a sign-in in the session cookie;
:func:`finish` also records the state and the nonce as used in the database, since an old copy
of a signed cookie still holds them.

Between sign-ins, :func:`refresh` asks the provider again with the refresh token of the last
sign-in (the refresh token grant): a refusal means the person was disabled or their session
revoked there; an answer carries a fresh ID token (or userinfo) with their groups of now.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask import current_app
from flask import request
from flask import session
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from labelhive.accounts.identity.roles import groups_from_claim
from labelhive.accounts.identity.roles import parse_mapping
from labelhive.accounts.identity.services import IdentityRefused
from labelhive.accounts.identity.services import Profile
from labelhive.accounts.identity.services import consume_once

NAME = "oidc"
DEFAULT_RECHECK_INTERVAL = 300
# what the provider may answer with, per failure, in words a person can act on
_CLAIM_WORDS = {
    "iss": "it was issued by another provider",
    "aud": "it was issued to another application",
    "azp": "it was issued to another application",
    "exp": "it has expired",
    "nonce": "it answers another sign-in (nonce)",
}


@dataclasses.dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    groups_claim: str
    group_roles: dict[str, str]
    provider_name: str
    # asked for on top of ``scopes`` so the provider issues a refresh token ("" for none)
    offline_scope: str = "offline_access"
    # seconds between two rechecks by the scheduler (0: none)
    recheck_interval: int = DEFAULT_RECHECK_INTERVAL
    # seconds after their last sign-in before someone without a refresh token is disabled
    # (``None``: they are kept until their next sign-in)
    max_age_without_refresh: int | None = None

    @property
    def requested_scopes(self) -> str:
        """The scopes of the authorization request: ``scopes`` and the offline scope."""
        words = self.scopes.split()
        if self.offline_scope and self.offline_scope not in words:
            words.append(self.offline_scope)
        return " ".join(words)


@dataclasses.dataclass(frozen=True)
class Refreshed:
    """The provider still vouches for the person: their groups of now, and the refresh token
    to use next time when it sent a new one (rotation)."""

    groups: tuple[str, ...]
    refresh_token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Revoked:
    """The provider refused the refresh token (``invalid_grant``): the account is disabled or
    removed there, the session was revoked, or the token expired."""

    description: str


class ProviderUnavailable(Exception):
    """No answer about anyone: the provider cannot be reached, refuses LabelHive itself
    (``invalid_client``), or its answer fails the checks. Nothing is changed on it."""


def settings_from(config: dict[str, Any]) -> OidcSettings | None:
    """The OpenID settings of ``config``, or ``None`` when ``OIDC_ISSUER`` is unset.

    :raise RuntimeError: the issuer is set without a client id, or the mapping is malformed.
    """
    issuer = (config.get("OIDC_ISSUER") or "").rstrip("/")
    if not issuer:
        return None
    if not config.get("OIDC_CLIENT_ID"):
        raise RuntimeError("OIDC_ISSUER is set: OIDC_CLIENT_ID (and OIDC_CLIENT_SECRET) too")
    scopes = " ".join(str(config.get("OIDC_SCOPES") or "openid email profile").split())
    if "openid" not in scopes.split():
        scopes = "openid " + scopes
    try:
        group_roles = parse_mapping(config.get("OIDC_GROUP_ROLES") or "", "OIDC_GROUP_ROLES")
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    offline_scope = str(config.get("OIDC_OFFLINE_SCOPE", "offline_access") or "").strip()
    if len(offline_scope.split()) > 1:
        raise RuntimeError(f"OIDC_OFFLINE_SCOPE is one scope or empty (got {offline_scope!r})")
    interval = config.get("OIDC_RECHECK_INTERVAL")
    return OidcSettings(
        offline_scope=offline_scope,
        recheck_interval=DEFAULT_RECHECK_INTERVAL if interval is None else int(interval),
        max_age_without_refresh=config.get("OIDC_MAX_AGE_WITHOUT_REFRESH"),
        issuer=issuer,
        client_id=config["OIDC_CLIENT_ID"],
        client_secret=config.get("OIDC_CLIENT_SECRET") or "",
        scopes=scopes,
        groups_claim=config.get("OIDC_GROUPS_CLAIM") or "groups",
        group_roles=group_roles,
        provider_name=config.get("OIDC_PROVIDER_NAME") or "single sign-on",
    )


def init_app(app: Flask, settings: OidcSettings) -> None:
    """Register the Authlib client of this app (discovery happens at the first sign-in)."""
    oauth = OAuth(app)
    oauth.register(
        NAME,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.requested_scopes,
            "code_challenge_method": "S256",
            "timeout": 10,
        },
    )
    app.extensions["labelhive.oidc"] = (oauth, settings)


def configured() -> OidcSettings | None:
    entry = current_app.extensions.get("labelhive.oidc")
    return entry[1] if entry else None


def _settings() -> OidcSettings:
    """The settings of a sign-in under way (the views route here only when configured)."""
    settings = configured()
    if settings is None:
        raise IdentityRefused("Sign-in through an identity provider is not configured here.", 404)
    return settings


def _client() -> Any:
    return current_app.extensions["labelhive.oidc"][0].create_client(NAME)


def start(redirect_uri: str) -> Response:
    """Send the browser to the provider (new state, nonce and PKCE verifier)."""
    client = _client()
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        raise IdentityRefused(_unreachable(exc), 502) from None
    _check_issuer(metadata)
    return client.authorize_redirect(redirect_uri)


def finish() -> Profile:
    """The profile of the person the provider sends back, from the verified ID token.

    :raise IdentityRefused: an error from the provider, an unknown or used state, an ID token
        that fails a check, a provider that cannot be reached.
    """
    settings = _settings()
    if request.args.get("error"):
        said = request.args.get("error_description") or request.args["error"]
        raise IdentityRefused(f"The identity provider did not sign you in: {said}.", 400)
    state = request.args.get("state") or ""
    if not state or f"_state_{NAME}_{state}" not in session:
        raise IdentityRefused(
            "This sign-in answer does not belong to a sign-in started in this browser (state): "
            "start again from the sign-in page.",
            400,
        )
    consume_once("state", state)
    client = _client()
    try:
        token = client.authorize_access_token()
    except JoseError as exc:
        raise IdentityRefused(_token_refusal(exc), 401) from None
    except AuthlibBaseError as exc:
        raise IdentityRefused(
            f"The identity provider refused the sign-in: {exc.description or exc.error}.", 400
        ) from None
    except (requests.RequestException, ValueError) as exc:
        raise IdentityRefused(_unreachable(exc), 502) from None
    claims = token.get("userinfo")
    if not claims:
        raise IdentityRefused("The identity provider sent no ID token.", 502)
    consume_once("nonce", claims["nonce"])
    return Profile(
        source="oidc",
        issuer=settings.issuer,
        subject=str(claims["sub"]),
        email=claims.get("email") or None,
        email_verified=claims.get("email_verified") is True,
        username=str(claims.get("preferred_username") or ""),
        fullname=str(claims.get("name") or ""),
        groups=tuple(groups_from_claim(claims.get(settings.groups_claim))),
        refresh_token=token.get("refresh_token") or None,
    )


def refresh(subject: str, refresh_token: str) -> Refreshed | Revoked:
    """Ask the provider about ``subject`` with the refresh token of their last sign-in.

    The answer's ID token is checked as at sign-in (signature, issuer, audience, expiry) and
    must name ``subject``; a provider that sends none on a refresh is asked for userinfo.

    :raise ProviderUnavailable: no answer about ``subject`` (see the class).
    """
    settings = _settings()
    client = _client()
    try:
        issuer = str(client.load_server_metadata().get("issuer", "")).rstrip("/")
        if issuer != settings.issuer:
            raise ProviderUnavailable("its discovery document names another issuer")
        # no scope: the refresh keeps what the sign-in was granted (RFC 6749, section 6)
        token = client.fetch_access_token(
            grant_type="refresh_token", refresh_token=refresh_token, scope=""
        )
        if token.get("id_token"):
            claims = dict(client.parse_id_token(token, nonce=None))
        else:
            claims = dict(client.userinfo(token=token))
    except AuthlibBaseError as exc:
        if exc.error == "invalid_grant":
            return Revoked(str(exc.description or exc.error))
        raise ProviderUnavailable(f"it answered {exc.error}") from None
    except JoseError as exc:
        raise ProviderUnavailable(f"its ID token failed a check ({exc.error})") from None
    except (requests.RequestException, ValueError) as exc:
        # the exception's text may carry URLs with parameters: only its kind is said
        raise ProviderUnavailable(f"it cannot be reached ({type(exc).__name__})") from None
    if str(claims.get("sub")) != subject:
        raise ProviderUnavailable("it answered about another subject")
    return Refreshed(
        groups=tuple(groups_from_claim(claims.get(settings.groups_claim))),
        refresh_token=token.get("refresh_token") or None,
    )


def _check_issuer(metadata: dict[str, Any]) -> None:
    """The discovery document must name the configured issuer (OpenID Discovery 4.3)."""
    settings = _settings()
    if str(metadata.get("issuer", "")).rstrip("/") != settings.issuer:
        raise IdentityRefused(
            "The identity provider's discovery document names another issuer: ask an "
            "administrator to check OIDC_ISSUER.",
            502,
        )


def _token_refusal(exc: JoseError) -> str:
    words = _CLAIM_WORDS.get(getattr(exc, "claim", "") or "")
    if exc.error == "expired_token":
        words = _CLAIM_WORDS["exp"]
    if exc.error == "bad_signature":
        words = "its signature does not match the provider's published keys"
    reason = words or (exc.description or exc.error)
    return f"The identity provider's ID token was refused: {reason}."


def _unreachable(exc: Exception) -> str:
    # the exception's text may carry URLs with parameters: it is not shown, only its kind
    return f"The identity provider cannot be reached right now ({type(exc).__name__}): try again."
