"""Driving the plugin the way Certbot does, in-process: a config namespace, annotated challenges,
``perform`` then ``cleanup``.  Used by the flow tests; the end-to-end tests run the real certbot instead."""

from __future__ import annotations

import os
import types
from typing import Any, Optional

import josepy as jose
from acme import challenges, messages
from certbot import achallenges
from cryptography.hazmat.primitives.asymmetric import rsa

from certbot_dns_netcup._internal.authenticator import Authenticator

_ACCOUNT_KEY: Optional[jose.JWKRSA] = None


def account_key() -> jose.JWKRSA:
    global _ACCOUNT_KEY
    if _ACCOUNT_KEY is None:
        _ACCOUNT_KEY = jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _ACCOUNT_KEY


def dns01_achall(domain: str) -> achallenges.KeyAuthorizationAnnotatedChallenge:
    """A pending dns-01 challenge for ``domain`` (a wildcard is given as ``*.example.test``)."""
    chall = challenges.DNS01(token=os.urandom(32))
    challb = messages.ChallengeBody(chall=chall, status=messages.STATUS_PENDING)
    # A wildcard's authorization names the base domain: its record is _acme-challenge.<base>.
    base = domain[2:] if domain.startswith("*.") else domain
    identifier_type = getattr(messages, "IDENTIFIER_FQDN", None)
    if identifier_type is not None and "identifier" in achallenges.KeyAuthorizationAnnotatedChallenge.__slots__:
        identifier = messages.Identifier(typ=identifier_type, value=base)
        return achallenges.KeyAuthorizationAnnotatedChallenge(
            challb=challb, identifier=identifier, account_key=account_key()
        )
    return achallenges.KeyAuthorizationAnnotatedChallenge(challb=challb, domain=base, account_key=account_key())


class RecordingDisplay:
    """Stands in for Certbot's display: keeps every notification so tests can read what the user saw."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def notification(self, message: str, pause: bool = False, wrap: bool = True, **kwargs: Any) -> None:
        self.lines.append(message)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the plugin asked the display for {name}: it must not prompt")


def install_display() -> RecordingDisplay:
    """Configure Certbot's display utility (set by certbot's main() in real runs)."""
    from certbot._internal.display import obj as display_obj

    display = RecordingDisplay()
    display_obj.set_display(display)  # type: ignore[arg-type]
    return display


def challenge_name(achall: Any) -> str:
    """``_acme-challenge.<name>`` of a challenge, without Certbot's deprecated ``domain`` attribute."""
    identifier = getattr(achall, "identifier", None)
    return str(achall.validation_domain_name(identifier.value if identifier is not None else achall.domain))


def expected_value(achall: Any) -> str:
    return achall.validation(achall.account_key)


def sandbox_resolver(box: Any) -> Any:
    """A resolver that asks the sandbox's fake recursive resolver: the sandbox's stand-in for /etc/resolv.conf."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [box.system_resolver.address]
    resolver.port = box.system_resolver.port
    resolver.lifetime = 5
    return resolver


def sandbox_resolver_method(box: Any) -> Any:
    """A stand-in for ``Authenticator._system_resolver`` that asks the sandbox's recursive resolver."""
    return lambda _self: sandbox_resolver(box)


def point_plugin_at(box: Any, monkeypatch: Any) -> None:
    """Make the in-process plugin trust the sandbox's HTTPS and resolve through its resolver.

    The real plugin reads /etc/resolv.conf; end-to-end tests get that with a private mount
    namespace, in-process tests with this.
    """
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", box.ca_bundle)
    monkeypatch.setattr(
        "certbot_dns_netcup._internal.authenticator.Authenticator._system_resolver", sandbox_resolver_method(box)
    )


def make_authenticator(
    credentials: str,
    *,
    propagation_seconds: int = 0,
    nameservers: Optional[str] = None,
    zone_name: Optional[str] = None,
    login_retries: int = 3,
) -> Authenticator:
    config = types.SimpleNamespace(
        dns_netcup_credentials=credentials,
        dns_netcup_propagation_seconds=propagation_seconds,
        dns_netcup_nameservers=nameservers,
        dns_netcup_zone_name=zone_name,
        dns_netcup_login_retries=login_retries,
        noninteractive_mode=True,
    )
    return Authenticator(config, "dns-netcup")
