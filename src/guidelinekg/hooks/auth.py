"""Trusting CDS clients: the bearer JWT of every request, checked as CDS Hooks 2.0 asks (PyJWT).

The client's public keys are read once from a JWK Set file (``--jwks``; never fetched: a ``jku`` header is
not followed). A request needs ``Authorization: Bearer <JWT>`` whose

* header names a ``kid`` of the set and an asymmetric ``alg`` the key can verify (RS*, PS*, ES*, EdDSA;
  ``none`` and HMAC are refused, as the specification requires; a key that states its ``alg`` allows only
  that one); ``typ``, when given, is ``JWT``;
* signature verifies with that key;
* ``iss`` is one of the trusted issuers (``--issuer``, repeatable);
* ``aud`` (a string or an array) names the endpoint called: ``--audience`` (the service's base URL)
  followed by the request's path, or the base URL itself; for a feedback call also the service's URL;
* ``exp`` is in the future and ``iat`` not, each with a leeway of :data:`LEEWAY` seconds;
* ``exp`` is at most :data:`MAX_LIFETIME` seconds (5 minutes, as CDS Hooks asks EHRs to issue them) after
  ``iat`` and after now, leeway added: a token of 10 years (or ``exp`` 1e300) is refused;
* ``jti`` is present and not seen before from that issuer while the token is valid (a replayed token is
  refused).

The ``jti`` seen are kept in memory until their token expires. A restart forgets them: a token captured
before it could be replayed after it, but only until that token expires, at most ``MAX_LIFETIME + 2 *
LEEWAY`` seconds (7 minutes) after it was issued, which the bound on ``exp`` guarantees.

Anything else is a :class:`~guidelinekg.hooks.protocol.HookError` 401 with a ``WWW-Authenticate`` header.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import jwt

from guidelinekg.errors import InputError, Location
from guidelinekg.hooks.protocol import HookError

LEEWAY = 60  # seconds
MAX_LIFETIME = 300  # seconds a token may be valid for (CDS Hooks: the EHR's JWT expires within 5 minutes)
ASYMMETRIC = {"RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
              "EC": ("ES256", "ES384", "ES512", "ES256K"), "OKP": ("EdDSA",)}


def _refused(message: str) -> HookError:
    quoted = message.replace('"', "'")
    return HookError(401, "security", message,
                     (("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{quoted}"'),))


class JwtVerifier:
    """The keys, trusted issuers and audience; :meth:`check` verifies one request's Authorization header."""

    def __init__(self, jwks: Path, issuers: tuple[str, ...], audience: str):
        location = Location(str(jwks))
        try:
            document = json.loads(jwks.read_text(encoding="utf-8"))
            keys = document["keys"]
            if not isinstance(keys, list):
                raise TypeError
        except OSError as exc:
            raise InputError(f"cannot read --jwks: {exc.strerror or exc}", location) from None
        except (ValueError, KeyError, TypeError):
            raise InputError("--jwks is not a JWK Set (a JSON object with a 'keys' array)", location) from None
        self.keys: dict[str, tuple[object, tuple[str, ...]]] = {}
        for n, data in enumerate(keys):
            if not isinstance(data, dict) or not isinstance(data.get("kid"), str) or not data["kid"]:
                raise InputError(f"key {n} of --jwks has no kid: CDS clients name their key with one", location)
            kind = data.get("kty")
            if kind not in ASYMMETRIC:
                raise InputError(f"key {data['kid']!r} of --jwks is of type {kind!r}: only public keys (RSA, EC, "
                                 "OKP) are trusted; CDS Hooks forbids shared secrets", location)
            if "d" in data:
                raise InputError(f"key {data['kid']!r} of --jwks is a private key: give the client's public keys",
                                 location)
            try:
                key = jwt.PyJWK(data)
            except jwt.PyJWKError as exc:
                raise InputError(f"key {data['kid']!r} of --jwks cannot be used: {exc}", location) from None
            allowed = (data["alg"],) if isinstance(data.get("alg"), str) else ASYMMETRIC[kind]
            if not set(allowed) <= set(ASYMMETRIC[kind]):
                raise InputError(f"key {data['kid']!r} of --jwks states alg {data['alg']!r}, not one for a "
                                 f"{kind} key", location)
            if data["kid"] in self.keys:
                raise InputError(f"kid {data['kid']!r} appears twice in --jwks", location)
            self.keys[data["kid"]] = (key.key, allowed)
        if not self.keys:
            raise InputError("--jwks holds no key", location)
        self.issuers = frozenset(issuers)
        self.audience = audience.rstrip("/")
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def audiences(self, path: str) -> list[str]:
        out = [self.audience, self.audience + path]
        if path.endswith("/feedback"):
            out.append(self.audience + path.removesuffix("/feedback"))
        return out

    def check(self, header: str | None, path: str) -> dict:
        """The verified claims of the request's bearer JWT; raises a 401 HookError otherwise."""
        if not header:
            raise _refused("an Authorization: Bearer JWT is required")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refused("the Authorization header must be 'Bearer <JWT>'")
        token = token.strip()
        try:
            head = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _refused(f"not a JWT: {exc}") from None
        if head.get("typ") is not None and str(head.get("typ")).upper() != "JWT":
            raise _refused("the JWT header's typ must be JWT")
        kid, alg = head.get("kid"), head.get("alg")
        if not isinstance(kid, str) or kid not in self.keys:
            raise _refused("the JWT's kid names no key of the service's JWK Set")
        key, allowed = self.keys[kid]
        if alg not in allowed:
            raise _refused(f"the JWT's alg {alg!r} is not one key {kid!r} verifies")
        try:
            claims = jwt.decode(token, key=key, algorithms=[alg], audience=self.audiences(path),
                                issuer=self.issuers, leeway=LEEWAY,
                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.PyJWTError as exc:
            raise _refused(f"the JWT is not accepted: {exc}") from None
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise _refused("the JWT's jti must be a non-empty string")
        expires, issued = float(claims["exp"]), float(claims["iat"])
        if max(expires - issued, expires - time.time()) > MAX_LIFETIME + LEEWAY:
            raise _refused(f"the JWT's exp is more than {MAX_LIFETIME // 60} minutes after its iat or after now: "
                           "CDS Hooks asks for tokens that expire within 5 minutes (a longer one could be replayed "
                           "after a restart)")
        self._once(claims["iss"], claims["jti"], expires)
        return claims

    def _once(self, issuer: str, jti: str, expires: float) -> None:
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v + LEEWAY > now}
            if (issuer, jti) in self._seen:
                raise _refused("the JWT was used before (its jti is seen again): replay refused")
            self._seen[(issuer, jti)] = expires
