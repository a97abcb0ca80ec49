"""The instance's public signing keys at their well-known URLs."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.store.signing import KEYS_DIR, instance_keys, rotate_signing_key
from heritage.web import csrf
from heritage.web.app import create_app


def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), base_url="http://testserver")


def test_jwk_set_lists_the_current_key_for_anyone(heritage_runtime: Runtime) -> None:
    response = client(heritage_runtime).get("/.well-known/heritage-signing-keys")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "max-age=3600" in response.headers["cache-control"]
    current = instance_keys(heritage_runtime.settings).current
    assert current is not None  # created on first use, then published
    (jwk,) = response.json()["keys"]
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(current.public.raw).rstrip(b"=").decode(),
        "kid": current.key_id,
        "use": "sig",
    }


def test_retired_keys_stay_published_after_the_current_one(heritage_runtime: Runtime) -> None:
    settings = heritage_runtime.settings
    old = instance_keys(settings).current
    assert old is not None
    new = rotate_signing_key(settings.resolved_data_dir / KEYS_DIR)
    kids = [
        k["kid"]
        for k in client(heritage_runtime).get("/.well-known/heritage-signing-keys").json()["keys"]
    ]
    assert kids == [new.key_id, old.key_id]


def test_pem_is_the_current_key(heritage_runtime: Runtime) -> None:
    response = client(heritage_runtime).get("/.well-known/heritage-signing-key.pem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    key = serialization.load_pem_public_key(response.content)
    assert isinstance(key, Ed25519PublicKey)
    current = instance_keys(heritage_runtime.settings).current
    assert current is not None
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw == current.public.raw


def test_shared_caches_may_keep_only_answers_without_a_cookie(
    heritage_runtime: Runtime,
) -> None:
    browser = client(heritage_runtime)
    first = browser.get("/.well-known/heritage-signing-keys")
    # the first answer sets the CSRF cookie: no shared cache may keep it
    assert "set-cookie" in first.headers
    assert first.headers["cache-control"].startswith("private")
    assert csrf.CSRF_COOKIE in browser.cookies
    again = browser.get("/.well-known/heritage-signing-keys")
    assert "set-cookie" not in again.headers
    assert again.headers["cache-control"] == "public, max-age=3600"
