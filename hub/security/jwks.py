"""Keys: the built-in endpoint's signing key, and the key sets tokens are verified against.

The built-in signing key is generated on first start into ``<data_dir>/auth/jwt-<alg>.jwk.json`` (mode 0600,
created with ``O_EXCL`` so that several processes starting together agree on one key). In production the keys
come from the identity provider: a JWKS URL fetched with httpx and cached for ``auth_jwks_cache_s`` (fetched
again, at most every ``_MIN_REFRESH_S``, when a token names a key id not in the cached set: key rotation), or a
local JWKS file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, GuestProtocol, Key, KeySet, RSAKey

from hub.config import Settings
from hub.errors import TransientError, Unauthorized

log = logging.getLogger(__name__)

_MIN_REFRESH_S = 30.0


def signing_key_path(settings: Settings) -> Path:
    return settings.data_dir / "auth" / f"jwt-{settings.auth_signing_alg}.jwk.json"


def load_or_create_signing_key(settings: Settings) -> Key:
    """The built-in endpoint's private signing key, generated into the data directory on first use.

    Returns:
        An EC P-256 (ES256) or RSA 2048 (RS256) private key with ``kid`` (its RFC 7638 thumbprint) and ``alg``.
    """
    path = signing_key_path(settings)
    if not path.exists():
        alg = settings.auth_signing_alg
        key: Key
        if alg == "ES256":
            key = ECKey.generate_key("P-256", parameters={"alg": alg, "use": "sig"}, auto_kid=True)
        else:
            key = RSAKey.generate_key(2048, parameters={"alg": alg, "use": "sig"}, auto_kid=True)
        data = json.dumps(key.as_dict(private=True)).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process got there first: then everybody uses that one.
            os.link(tmp, path)
            log.info("generated a new %s token signing key", alg)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    raw = json.loads(path.read_text())
    loaded = KeySet.import_key_set({"keys": [raw]}).keys[0]
    if not loaded.is_private:
        raise ValueError(f"{path} holds no private key")
    return loaded


def public_jwks(key: Key) -> dict[str, Any]:
    """The JWKS document publishing the public half of ``key``."""
    return dict(KeySet([key]).as_dict(private=False))


class KeySource(Protocol):
    """Where the verification keys come from."""

    def resolve(self, guest: GuestProtocol) -> Key | KeySet: ...


class StaticKeys:
    """A fixed key set: the built-in key, or a JWKS file read once."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys

    @classmethod
    def from_file(cls, path: Path) -> StaticKeys:
        return cls(KeySet.import_key_set(json.loads(path.read_text())))

    def resolve(self, guest: GuestProtocol) -> Key | KeySet:
        return _pick(self.keys, guest)


class RemoteKeys:
    """A JWKS URL, fetched with httpx and cached; thread-safe (dependencies run in a thread pool)."""

    def __init__(self, url: str, *, ttl_s: float, client: httpx.Client | None = None) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self._client = client or httpx.Client(timeout=5.0)
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> KeySet:
        try:
            response = self._client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise TransientError("the identity provider's keys cannot be fetched") from exc
        self._keys, self._fetched_at = keys, time.monotonic()
        return keys

    def current(self, *, want_kid: str | None = None) -> KeySet:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            keys = self._keys
            if keys is None or age > self.ttl_s:
                try:
                    return self._fetch()
                except TransientError:
                    if keys is None:
                        raise
                    log.warning("JWKS refresh failed; using the cached keys")
                    return keys
            if want_kid is not None and all(k.kid != want_kid for k in keys) and age > _MIN_REFRESH_S:
                return self._fetch()
            return keys

    def resolve(self, guest: GuestProtocol) -> Key | KeySet:
        kid = guest.headers().get("kid")
        return _pick(self.current(want_kid=kid if isinstance(kid, str) else None), guest)

    def close(self) -> None:
        self._client.close()


def _pick(keys: KeySet, guest: GuestProtocol) -> Key:
    kid = guest.headers().get("kid")
    try:
        return keys.get_by_kid(kid if isinstance(kid, str) else None)
    except JoseError as exc:
        raise Unauthorized("the token is signed with an unknown key") from exc


def key_source(settings: Settings) -> KeySource:
    """The verification keys for these settings: JWKS URL, JWKS file, or the built-in key."""
    if settings.auth_jwks_url:
        return RemoteKeys(settings.auth_jwks_url, ttl_s=settings.auth_jwks_cache_s)
    if settings.auth_jwks_file is not None:
        return StaticKeys.from_file(settings.auth_jwks_file)
    return StaticKeys(KeySet([load_or_create_signing_key(settings)]))
