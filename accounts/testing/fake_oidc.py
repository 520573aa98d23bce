"""A fake OpenID Connect provider: a small real HTTP server on 127.0.0.1 with a discovery
document, a JWKS of real RSA keys, an authorization endpoint and a token endpoint that
checks the client, the redirect URI, the code (once) and its PKCE verifier."""

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "127.0.0.1"
KID = "fake-oidc-key-1"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Grant:
    """An authorization code waiting for its token request."""

    client_id: str
    redirect_uri: str
    code_challenge: str


@dataclass
class FakeOIDC:
    """The provider's state; tests set `claims`, `signer` and `token_error`.

    `signer`: "key" (the JWKS key), "other" (a key not in the JWKS, same kid) or
    "hs256" (the client secret as an HMAC key).
    """

    client_id: str
    client_secret: str
    url: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=_rsa_key)
    other_key: rsa.RSAPrivateKey = field(default_factory=_rsa_key)
    claims: dict[str, Any] = field(default_factory=dict)
    signer: str = "key"
    token_error: tuple[int, dict[str, Any]] | None = None
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.claims, self.signer, self.token_error = {}, "key", None
        self.grants.clear()
        self.token_requests.clear()

    @property
    def issuer(self) -> str:
        return self.url

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
            ],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, **overrides: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "f3c1a2b4-0000-4000-8000-000000000001",
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
            **self.claims,
            **overrides,
        }
        if self.signer == "hs256":
            return jwt.encode(
                payload, self.client_secret, algorithm="HS256", headers={"kid": KID}
            )
        key = self.key if self.signer == "key" else self.other_key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})

    def authorize(self, query: dict[str, str]) -> str:
        """Grant a code for an authorization request; return the redirect location."""
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=query.get("client_id", ""),
            redirect_uri=query.get("redirect_uri", ""),
            code_challenge=query.get("code_challenge", ""),
        )
        params = urlencode({"code": code, "state": query.get("state", "")})
        return f"{query.get('redirect_uri', '')}?{params}"

    def token(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        client_id, secret = basic or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if (client_id, secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.client_id != client_id:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest())
        if challenge.rstrip(b"=").decode() != grant.code_challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        if self.token_error is not None:
            return self.token_error
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(),
        }


def _handler(fake: FakeOIDC) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests assert what they need."""

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, fake.discovery())
            elif parts.path == "/jwks":
                self._json(200, fake.jwks())
            elif parts.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.send_response(302)
                self.send_header("Location", fake.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            basic = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                basic = (user, password)
            if urlsplit(self.path).path == "/token":
                self._json(*fake.token(form, basic))
            else:
                self._json(404, {"error": "not_found"})

    return Handler


@contextmanager
def run_in_thread(*, client_id: str, client_secret: str) -> Iterator[FakeOIDC]:
    """Serve a FakeOIDC on a free port of 127.0.0.1 until the block ends."""
    fake = FakeOIDC(client_id=client_id, client_secret=client_secret)
    server = ThreadingHTTPServer((HOST, 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
