"""Scenario: a kubeconfig with the oidc auth-provider (what `kubectl oidc-login setup` or an IdP's docs write)
whose id-token has expired. The `kubernetes` package refreshes it at the identity provider with the refresh token;
h1bot_kube keeps the refreshed tokens between loads, because providers that rotate refresh tokens accept each one
once. The provider is a fake OpenID Connect issuer over TLS on loopback (oauthlib insists on https)."""

import asyncio
import base64
import datetime
import json
import threading
from collections.abc import Iterator

import aiohttp.web
import pytest
import yaml

from h1bot_kube import KubeConfigError, load_credentials
from tests.fakes.tls import Pki, make_pki


def id_token(subject: str, lifetime: datetime.timedelta) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    exp = int((datetime.datetime.now(datetime.UTC) + lifetime).timestamp())
    return f"{part({'alg': 'RS256'})}.{part({'sub': subject, 'exp': exp})}.c2lnbmF0dXJl"


class FakeIssuer:
    """An OpenID Connect issuer: discovery, and a token endpoint that rotates refresh tokens (each works once).
    Its id-tokens live 60 s, inside the `kubernetes` package's 5-minute skew: every load refreshes."""

    def __init__(self, pki: Pki) -> None:
        self.pki, self.port = pki, 0
        self.valid_refresh_token = "refresh-0"
        self.refreshes: list[str] = []  # the refresh tokens presented, in order
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _discovery(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"issuer": self.url, "token_endpoint": f"{self.url}/token"})

    async def _token(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        form = await request.post()
        presented = str(form.get("refresh_token"))
        self.refreshes.append(presented)
        if form.get("grant_type") != "refresh_token" or presented != self.valid_refresh_token:
            return aiohttp.web.json_response({"error": "invalid_grant"}, status=400)
        number = len(self.refreshes)
        self.valid_refresh_token = f"refresh-{number}"
        return aiohttp.web.json_response({
            "access_token": f"access-{number}", "token_type": "Bearer", "expires_in": 60,
            "refresh_token": self.valid_refresh_token,
            "id_token": id_token(f"alice-{number}", datetime.timedelta(seconds=60))})

    def __enter__(self) -> "FakeIssuer":
        self._thread.start()

        async def start() -> aiohttp.web.AppRunner:
            app = aiohttp.web.Application()
            app.router.add_get("/.well-known/openid-configuration", self._discovery)
            app.router.add_post("/token", self._token)
            runner = aiohttp.web.AppRunner(app, access_log=None)
            await runner.setup()
            await aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.pki.server_context()).start()
            self.port = runner.addresses[0][1]
            return runner
        self._runner = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def issuer(tmp_path) -> Iterator[FakeIssuer]:
    with FakeIssuer(make_pki(tmp_path / "pki")) as fake:
        yield fake


def subject(authorization: str) -> str:
    payload = authorization.split(" ", 1)[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def oidc_kubeconfig(tmp_path, issuer: FakeIssuer, refresh_token: str = "refresh-0"):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "corp",
        "clusters": [{"name": "corp", "cluster": {"server": "https://203.0.113.10:6443"}}],
        "contexts": [{"name": "corp", "context": {"cluster": "corp", "user": "alice"}}],
        "users": [{"name": "alice", "user": {"auth-provider": {"name": "oidc", "config": {
            "idp-issuer-url": issuer.url, "idp-certificate-authority": str(issuer.pki.ca),
            "client-id": "kubernetes", "client-secret": "s3cret", "refresh-token": refresh_token,
            "id-token": id_token("alice-0", datetime.timedelta(hours=-1))}}}}]}))
    return path


def test_an_expired_oidc_token_is_refreshed_and_the_rotated_refresh_token_kept(issuer, tmp_path):
    credentials = load_credentials(str(oidc_kubeconfig(tmp_path, issuer)), env={})
    assert subject(credentials.authorization) == "alice-1"
    credentials.refresh(force=True)  # what a 401 does
    credentials.refresh(force=True)
    assert subject(credentials.authorization) == "alice-3"
    assert issuer.refreshes == ["refresh-0", "refresh-1", "refresh-2"]  # never a used one again


def test_a_new_login_written_to_the_kubeconfig_wins_over_the_kept_tokens(issuer, tmp_path):
    path = oidc_kubeconfig(tmp_path, issuer)
    credentials = load_credentials(str(path), env={})
    issuer.valid_refresh_token = "refresh-from-a-new-login"
    oidc_kubeconfig(tmp_path, issuer, refresh_token="refresh-from-a-new-login")  # the user logged in again
    credentials.refresh(force=True)
    assert issuer.refreshes == ["refresh-0", "refresh-from-a-new-login"]


def test_a_refused_refresh_says_so(issuer, tmp_path):
    with pytest.raises(KubeConfigError, match=r"cannot use context 'corp' of .*invalid_grant"):
        load_credentials(str(oidc_kubeconfig(tmp_path, issuer, refresh_token="revoked")), env={})
