"""Tokens minted with the built-in key and verified; every kind of bad token refused; JWKS file and URL."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from hub.errors import Unauthorized
from hub.security.jwks import RemoteKeys, StaticKeys, load_or_create_signing_key, public_jwks, signing_key_path
from hub.security.tokens import TokenVerifier


def _sign(claims, key, alg="ES256", header=None):
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "at+jwt", **(header or {})}, claims, key, algorithms=[alg])


def _claims(settings, **over):
    now = int(time.time())
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": "his-a",
        "client_id": "his-a",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "system/*.rs",
        "role": "system",
        "organization": "org-a",
        "jti": "j1",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def test_key_is_generated_once_and_private(sec_settings):
    key = load_or_create_signing_key(sec_settings)
    path = signing_key_path(sec_settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_signing_key(sec_settings).kid == key.kid
    published = public_jwks(key)
    assert [k["kid"] for k in published["keys"]] == [key.kid]
    assert "d" not in published["keys"][0]  # no private part


def test_rs256_key(sec_settings):
    s = sec_settings.model_copy(update={"auth_signing_alg": "RS256"})
    key = load_or_create_signing_key(s)
    assert key.key_type == "RSA"
    token = _sign(_claims(s), key, alg="RS256")
    assert TokenVerifier(s).principal(token).organization == "org-a"


def test_minted_token_verifies(sec_settings, tokens):
    principal = TokenVerifier(sec_settings).principal(tokens.system("org-a", "system/Observation.rs", ("TREAT",)))
    assert principal.client_id == "his-org-a"
    assert principal.organization == "org-a"
    assert principal.purposes == ("TREAT",)
    assert principal.scopes.granting("read", "Observation")
    assert not principal.scopes.granting("create", "Observation")


def test_patient_token(sec_settings, tokens):
    principal = TokenVerifier(sec_settings).principal(tokens.patient("p1"))
    assert principal.is_patient and principal.patient == "p1" and principal.fhir_user == "Patient/p1"


# Times are offsets from the moment the test runs, not from collection: a long suite (or a loaded machine) must
# not turn "valid in ten minutes" into "valid now".
@pytest.mark.parametrize(
    ("over", "message"),
    [
        (lambda now: {"exp": now - 120}, "expired"),
        (lambda now: {"nbf": now + 600}, "not valid yet"),
        (lambda now: {"iat": now + 600}, "issued in the future"),
        (lambda now: {"iss": "https://evil.example"}, "another issuer"),
        (lambda now: {"aud": "https://other-hub.example/fhir"}, "another audience"),
        (lambda now: {"exp": None}, "lacks a required claim"),
        (lambda now: {"sub": None}, "lacks a required claim"),
        (lambda now: {"role": "superuser"}, "role"),
        (lambda now: {"role": "patient"}, "names no patient"),
    ],
    ids=["exp", "nbf", "iat", "iss", "aud", "no-exp", "no-sub", "role", "patient-role"],
)
def test_bad_claims_rejected(sec_settings, over, message):
    claims = _claims(sec_settings, **over(int(time.time())))
    token = _sign(claims, load_or_create_signing_key(sec_settings))
    with pytest.raises(Unauthorized, match=message):
        TokenVerifier(sec_settings).principal(token)


def test_leeway_accepts_small_skew(sec_settings):
    token = _sign(_claims(sec_settings, nbf=int(time.time()) + 10), load_or_create_signing_key(sec_settings))
    assert TokenVerifier(sec_settings).principal(token).subject == "his-a"


def test_audience_list_accepted(sec_settings):
    token = _sign(
        _claims(sec_settings, aud=["other", sec_settings.auth_audience]), load_or_create_signing_key(sec_settings)
    )
    assert TokenVerifier(sec_settings).principal(token)


def test_forged_with_another_key(sec_settings):
    load_or_create_signing_key(sec_settings)
    mallory = ECKey.generate_key("P-256", auto_kid=True)
    with pytest.raises(Unauthorized, match="unknown key"):
        TokenVerifier(sec_settings).principal(_sign(_claims(sec_settings), mallory))
    # Same kid as the real key, but signed by mallory: the signature fails.
    real = load_or_create_signing_key(sec_settings)
    forged = jwt.encode({"alg": "ES256", "kid": real.kid}, _claims(sec_settings), mallory, algorithms=["ES256"])
    with pytest.raises(Unauthorized, match="signature"):
        TokenVerifier(sec_settings).principal(forged)


def test_tampered_payload(sec_settings):
    token = _sign(_claims(sec_settings), load_or_create_signing_key(sec_settings))
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["organization"] = "org-b"
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized, match="signature"):
        TokenVerifier(sec_settings).principal(f"{head}.{payload}.{sig}")


def test_alg_none_and_symmetric_refused(sec_settings):
    key = load_or_create_signing_key(sec_settings)
    body = base64.urlsafe_b64encode(json.dumps(_claims(sec_settings)).encode()).rstrip(b"=").decode()
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": key.kid}).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        TokenVerifier(sec_settings).principal(f"{head}.{body}.")
    # HS256 keyed with the public key's JSON (the classic confusion attack).
    oct_key = OctKey.import_key(json.dumps(public_jwks(key)["keys"][0]).encode())
    hs = jwt.encode({"alg": "HS256", "kid": key.kid}, _claims(sec_settings), oct_key, algorithms=["HS256"])
    with pytest.raises(Unauthorized):
        TokenVerifier(sec_settings).principal(hs)


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "a.b.c.d.e", "x" * 20000, "e30.e30.e30"])
def test_garbage_refused(sec_settings, junk):
    load_or_create_signing_key(sec_settings)
    with pytest.raises(Unauthorized):
        TokenVerifier(sec_settings).principal(junk)


def test_id_token_typ_refused(sec_settings):
    key = load_or_create_signing_key(sec_settings)
    with pytest.raises(Unauthorized, match="not an access token"):
        TokenVerifier(sec_settings).principal(_sign(_claims(sec_settings), key, header={"typ": "dpop+jwt"}))


def test_jwks_file(sec_settings, tmp_path):
    idp = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, auto_kid=True)
    path = tmp_path / "idp.jwks.json"
    path.write_text(json.dumps(KeySet([idp]).as_dict(private=False)))
    s = sec_settings.model_copy(update={"auth_jwks_file": path, "auth_issuer": "https://idp.example"})
    verifier = TokenVerifier(s)
    assert isinstance(verifier.keys, StaticKeys)
    assert verifier.principal(_sign(_claims(s), idp, alg="RS256")).subject == "his-a"
    # The hub's own built-in key is not trusted once an external IdP is configured.
    with pytest.raises(Unauthorized):
        verifier.principal(_sign(_claims(s), load_or_create_signing_key(sec_settings)))


class _JwksServer:
    """A real HTTP server publishing a JWKS that the test can rotate; counts the fetches."""

    def __init__(self, keys):
        self.document = KeySet(keys).as_dict(private=False)
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_jwks_url_cached_and_rotated(sec_settings, monkeypatch):
    old = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    server = _JwksServer([old])
    try:
        s = sec_settings.model_copy(update={"auth_jwks_url": server.url, "auth_jwks_cache_s": 3600})
        verifier = TokenVerifier(s)
        assert isinstance(verifier.keys, RemoteKeys)
        for _ in range(3):
            assert verifier.principal(_sign(_claims(s), old))
        assert server.fetches == 1  # cached
        new = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
        server.document = KeySet([old, new]).as_dict(private=False)
        # An unknown kid right after a fetch does not hammer the IdP...
        with pytest.raises(Unauthorized, match="unknown key"):
            verifier.principal(_sign(_claims(s), new))
        assert server.fetches == 1
        # ...but once the minimum refresh interval has passed, it refetches and accepts the rotated key.
        monkeypatch.setattr(verifier.keys, "_fetched_at", time.monotonic() - 31)
        assert verifier.principal(_sign(_claims(s), new))
        assert server.fetches == 2
    finally:
        server.close()
        verifier.keys.close()


def test_jwks_url_unreachable_is_transient(sec_settings):
    from hub.errors import TransientError

    s = sec_settings.model_copy(update={"auth_jwks_url": "http://127.0.0.1:9/jwks"})
    verifier = TokenVerifier(s)
    key = ECKey.generate_key("P-256", auto_kid=True)
    with pytest.raises(TransientError):
        verifier.principal(_sign(_claims(s), key))
    verifier.keys.close()


def test_verified_tokens_are_cached_until_they_expire(sec_settings):
    verifier = TokenVerifier(sec_settings)
    now = int(time.time())
    token = _sign(_claims(sec_settings, iat=now, nbf=now, exp=now + 300), load_or_create_signing_key(sec_settings))
    first = verifier.principal(token, now=now)
    assert verifier.principal(token, now=now + 10) is first  # from the cache
    with pytest.raises(Unauthorized, match="expired"):
        verifier.principal(token, now=now + 300 + sec_settings.auth_leeway_s + 1)
    with pytest.raises(Unauthorized, match="not valid yet|issued in the future"):
        verifier.principal(token, now=now - sec_settings.auth_leeway_s - 10)
