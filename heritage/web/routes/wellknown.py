"""Well-known URLs: the instance's public signing keys, for anyone checking its signatures.

Every version the instance stores is signed (``docs/signatures.md``); these
keys are what a verifier trusts. Retired keys stay listed, so that versions
signed before a key rotation keep verifying.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from heritage.store.signing import instance_keys, jwk_set
from heritage.web import csrf
from heritage.web.deps import RuntimeDep, allowed

router = APIRouter(tags=["signing keys"])

JWK_SET_TYPE = "application/jwk-set+json"
PEM_TYPE = "application/x-pem-file"
MAX_AGE = 3600


def _headers(request: Request) -> dict[str, str]:
    # The request middleware adds a CSRF Set-Cookie when the request has no CSRF cookie;
    # a shared cache must never hand that cookie to other people, so such an answer may
    # be kept by the client only.
    scope = "public" if csrf.CSRF_COOKIE in request.cookies else "private"
    return {
        "Cache-Control": f"{scope}, max-age={MAX_AGE}",
        "Access-Control-Allow-Origin": "*",  # public keys: verifiers in browsers may fetch them
    }


@router.get(
    "/.well-known/heritage-signing-keys",
    responses={200: {"content": {JWK_SET_TYPE: {}}, "description": "A JWK Set (RFC 7517)."}},
)
def signing_keys(
    request: Request, runtime: RuntimeDep, identity: allowed("instance.signing_keys")
) -> JSONResponse:
    """The public keys that sign this instance's versions: a JWK Set (RFC 8037 OKP keys),
    the current key first, then retired ones."""
    keys = instance_keys(runtime.settings).public_keys()
    return JSONResponse(jwk_set(keys), media_type=JWK_SET_TYPE, headers=_headers(request))


@router.get(
    "/.well-known/heritage-signing-key.pem",
    response_class=Response,
    responses={200: {"content": {PEM_TYPE: {}}, "description": "A PEM public key."}},
)
def signing_key_pem(
    request: Request, runtime: RuntimeDep, identity: allowed("instance.signing_keys")
) -> Response:
    """The current signing key as a PEM public key (SubjectPublicKeyInfo), for OpenSSL."""
    current = instance_keys(runtime.settings).current
    assert current is not None  # instance_keys creates the key on first use
    return Response(current.public.to_pem(), media_type=PEM_TYPE, headers=_headers(request))
