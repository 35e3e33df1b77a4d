"""The demo page and the browser client in headless Chromium, against `make run`.

`make run` serves keypin with two-second access tokens, so every test can wait for a token
to expire. Refreshes are counted from the browser's own network events, in every tab of a
browser context (one context is one cookie jar, like one browser profile).
"""
from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Request, Response, sync_playwright

from tests.support import PROJECT, free_port, http, stop_group, subprocess_env, wait_until_up

CHROMIUM = Path("/usr/bin/chromium")
ACCESS_TTL_SECONDS = 2
# Flags that keep Chromium off the network: no background services, and no host name
# resolves, so that only 127.0.0.1 is reachable. The attackers' pages come from
# Playwright's request interception, and the app pages from a server on 127.0.0.1.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
REFRESH_COOKIE = "__Host-keypin-refresh"
PASSWORD = "correct horse battery"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
    ),
]


class AppServer:
    """A web server on 127.0.0.1 for a page that uses keypin from another origin.

    It serves one page, at every path, that imports the browser client from keypin. A real
    loopback server is needed: Chromium's Local Network Access checks block a page that
    Playwright's interception serves from loading a script from 127.0.0.1.
    """

    def __init__(self) -> None:
        self.page = ""
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # Keep the test output quiet.

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self, keypin_url: str) -> None:
        self.page = ('<!doctype html><script type="module">'
                     f'import {{ createClient }} from "{keypin_url}/demo/keypin.js";'
                     f'window.client = createClient({{ baseUrl: "{keypin_url}" }});'
                     "</script>")
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class MakeRun:
    """`make run` with its own moto server, on free loopback ports, in a process group of its own."""

    def __init__(self, log_path: Path, app_origin: str) -> None:
        self.port = free_port()
        self.emulator_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_origin = app_origin
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = subprocess_env(
            f"http://127.0.0.1:{self.emulator_port}",
            PORT=str(self.port),
            KEYPIN_EMULATOR_PORT=str(self.emulator_port),
            KEYPIN_ACCESS_TTL_SECONDS=str(ACCESS_TTL_SECONDS),
            # No clock-skew allowance, so that an expired token gets 401 at once.
            KEYPIN_LEEWAY_SECONDS="0",
            KEYPIN_CORS_ALLOW_ORIGIN=self.app_origin,
        )
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=PROJECT, env=env,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(f"{self.url}/health", self._process, timeout_seconds=120)

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process)
            self._process = None


class RefreshCounter:
    """Counts the refresh requests that any tab of one browser context sends, and its 401s."""

    def __init__(self, context: BrowserContext) -> None:
        self.count = 0
        self.unauthorized: list[str] = []
        context.on("request", self._seen)
        context.on("response", self._answered)

    def _seen(self, request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/auth/refresh"):
            self.count += 1

    def _answered(self, response: Response) -> None:
        if response.status == 401:
            self.unauthorized.append(response.url)


class DemoTab:
    """One tab showing the demo page, driven through its buttons."""

    def __init__(self, context: BrowserContext, server: MakeRun) -> None:
        self.page = context.new_page()
        self.page.goto(f"{server.url}/demo")
        self._calls = 0

    def register_and_login(self, username: str) -> None:
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("#register")
        self.page.wait_for_selector(f"#log >> text=registered {username}")
        self.page.click("#login")
        self.page.wait_for_selector(f"#session >> text=logged in as {username}")

    def start_call(self, button: str = "#call-me", at: float | None = None) -> None:
        """Click `button` now, or at the wall-clock time `at` (seconds since the epoch)."""
        delay_ms = 0 if at is None else max(0, int((at - time.time()) * 1000))
        self.page.evaluate("([button, delay]) => setTimeout(() => document.querySelector(button).click(), delay)",
                           [button, delay_ms])
        self._calls += 1

    def statuses(self) -> list[int]:
        """Wait for the last started call to finish and return the status of each request."""
        # Poll on a timer: the default, requestAnimationFrame, stops in a tab in the background.
        self.page.wait_for_function("(n) => document.querySelector('#result').dataset.call === String(n)",
                                    arg=self._calls, polling=50)
        return [int(status) for status in (self.page.get_attribute("#result", "data-statuses") or "").split(",")]

    def call_me(self, button: str = "#call-me") -> list[int]:
        self.start_call(button)
        return self.statuses()

    def session_text(self) -> str:
        return self.page.text_content("#session") or ""


@pytest.fixture(scope="module")
def trusted_app() -> Iterator[AppServer]:
    """The page of a single-page app at the origin that keypin trusts with CORS."""
    app = AppServer()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def untrusted_app(server: MakeRun) -> Iterator[AppServer]:
    """The same page at an origin that keypin does not trust."""
    app = AppServer()
    app.start(server.url)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trusted_app: AppServer) -> Iterator[MakeRun]:
    run = MakeRun(tmp_path_factory.mktemp("make-run") / "make-run.log", trusted_app.origin)
    try:
        run.start()
        trusted_app.start(run.url)
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def username() -> str:
    return f"tab-{uuid.uuid4().hex[:10]}"


def wait_for_access_expiry() -> None:
    time.sleep(ACCESS_TTL_SECONDS + 0.3)


def test_demo_login_shows_user(
    server: MakeRun, context: BrowserContext, username: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tab = DemoTab(context, server)

    tab.register_and_login(username)

    assert tab.call_me() == [200]
    assert tab.page.text_content("#result") == f"200 {username}"
    screenshot = tmp_path_factory.mktemp("browser-artifacts") / "demo-after-login.png"
    tab.page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    print(f"screenshot of the demo page after login: {screenshot}")


def test_login_keeps_refresh_token_out_of_page(server: MakeRun, context: BrowserContext, username: str) -> None:
    tab = DemoTab(context, server)

    with tab.page.expect_response(f"{server.url}/auth/login") as login:
        tab.register_and_login(username)

    assert "refresh_token" not in login.value.json()
    assert "access_token" in login.value.json()
    assert "keypin" not in tab.page.evaluate("document.cookie")
    cookies = {cookie["name"]: cookie for cookie in context.cookies(server.url)}
    assert cookies[REFRESH_COOKIE]["httpOnly"] is True
    assert cookies[REFRESH_COOKIE]["secure"] is True
    assert cookies[REFRESH_COOKIE]["sameSite"] == "Strict"
    assert cookies[REFRESH_COOKIE]["path"] == "/"


def test_ten_concurrent_calls_refresh_once(server: MakeRun, context: BrowserContext, username: str) -> None:
    # GIVEN a logged-in tab whose access token has expired
    refreshes = RefreshCounter(context)
    tab = DemoTab(context, server)
    tab.register_and_login(username)
    wait_for_access_expiry()

    # WHEN the tab calls /me ten times at once, twice over
    first = tab.call_me("#call-me-10")
    after_first = refreshes.count
    wait_for_access_expiry()
    second = tab.call_me("#call-me-10")

    # THEN every call succeeds, and each round sent exactly one refresh
    assert first == [200] * 10
    assert second == [200] * 10
    assert after_first == 1
    assert refreshes.count == 2


def test_two_tabs_refresh_once(server: MakeRun, context: BrowserContext, username: str) -> None:
    # GIVEN a second tab that joined the first tab's session through the cookie
    refreshes = RefreshCounter(context)
    first = DemoTab(context, server)
    first.register_and_login(username)
    second = DemoTab(context, server)
    assert second.call_me() == [200]
    assert second.session_text() == f"logged in as {username}"
    assert refreshes.count == 1
    wait_for_access_expiry()

    # WHEN both tabs call /me at the same moment after the token expired, three times over
    rounds = 3
    for _ in range(rounds):
        at = time.time() + 0.3
        first.start_call(at=at)
        second.start_call(at=at)
        assert first.statuses() == [200]
        assert second.statuses() == [200]
        wait_for_access_expiry()

    # THEN each round sent exactly one refresh, from one of the tabs
    assert refreshes.count == 1 + rounds


@pytest.mark.parametrize("attacker_site", ["same-site", "cross-site"])
def test_forged_form_post_to_refresh_rejected(
    server: MakeRun, context: BrowserContext, username: str, attacker_site: str
) -> None:
    # GIVEN a logged-in tab, and a page of another origin with a form that posts to
    # /auth/refresh: on another port of 127.0.0.1 (same site, so the browser sends the
    # SameSite=Strict cookie), or on another site (it does not)
    victim = DemoTab(context, server)
    victim.register_and_login(username)
    attacker = f"http://127.0.0.1:{free_port()}" if attacker_site == "same-site" else "http://attacker.test"
    form = (f'<form method="post" action="{server.url}/auth/refresh">'
            '<input name="refresh_token" value="x"></form><script>document.forms[0].submit()</script>')
    context.route(f"{attacker}/**", lambda route: route.fulfill(status=200, content_type="text/html", body=form))

    # WHEN the attacker's page is opened in the same browser
    page = context.new_page()
    with page.expect_response(f"{server.url}/auth/refresh") as forged:
        page.goto(f"{attacker}/win-a-prize")

    # THEN keypin rejects the post without touching the cookie, and the session goes on
    cookie_sent = REFRESH_COOKIE in (forged.value.request.all_headers().get("cookie") or "")
    assert cookie_sent is (attacker_site == "same-site")
    assert forged.value.status == 403
    assert forged.value.json()["error"] == "invalid_request"
    assert "set-cookie" not in forged.value.all_headers()
    wait_for_access_expiry()
    assert victim.call_me() == [200]


def test_rejected_token_refreshes_and_retries_once(
    server: MakeRun, context: BrowserContext, username: str
) -> None:
    # GIVEN a tab whose clock is stopped, so that its client takes an expired token for fresh
    refreshes = RefreshCounter(context)
    tab = DemoTab(context, server)
    tab.page.clock.set_fixed_time(time.time())
    tab.register_and_login(username)
    wait_for_access_expiry()

    # WHEN the tab calls /me
    statuses = tab.call_me()

    # THEN keypin rejects the token once, and the client refreshes once and retries
    assert statuses == [200]
    assert refreshes.unauthorized == [f"{server.url}/me"]
    assert refreshes.count == 1


def test_logout_everywhere_ends_session_expired(server: MakeRun, context: BrowserContext, username: str) -> None:
    # GIVEN a logged-in tab, and the same user logging out everywhere from another device
    tab = DemoTab(context, server)
    tab.register_and_login(username)
    status, tokens, _ = http("POST", f"{server.url}/auth/login", {"username": username, "password": PASSWORD})
    assert status == 200
    status, _, _ = http("POST", f"{server.url}/auth/logout-all",
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert status == 204

    # WHEN the tab calls /me after its access token expired
    wait_for_access_expiry()
    statuses = tab.call_me()

    # THEN the refresh fails for good: the call gets 401 and the tab reports "expired"
    assert statuses == [401]
    assert tab.page.get_attribute("#session", "data-ended") == "expired"
    assert tab.session_text() == "session ended (expired)"


def test_logout_in_one_tab_ends_other(server: MakeRun, context: BrowserContext, username: str) -> None:
    # GIVEN two tabs sharing one session
    first = DemoTab(context, server)
    first.register_and_login(username)
    second = DemoTab(context, server)
    assert second.call_me() == [200]

    # WHEN the first tab logs out
    first.page.click("#logout")

    # THEN the second tab reports the end of its session, and its calls get 401
    second.page.wait_for_selector("#session[data-ended='logout']")
    assert second.session_text() == "session ended (logout)"
    assert first.session_text() == "session ended (logout)"
    assert second.call_me() == [401]
    assert REFRESH_COOKIE not in {cookie["name"] for cookie in context.cookies(server.url)}



def test_cross_origin_app_refreshes_through_cors(
    server: MakeRun, trusted_app: AppServer, context: BrowserContext, username: str
) -> None:
    # GIVEN a page at the origin that KEYPIN_CORS_ALLOW_ORIGIN names, using the client
    refreshes = RefreshCounter(context)
    page = context.new_page()
    page.goto(f"{trusted_app.origin}/app")
    page.wait_for_function("window.client !== undefined", polling=50)

    # WHEN it registers, logs in, and calls /me before and after the token expired
    page.evaluate(
        """async ([url, username, password]) => {
            const registered = await fetch(`${url}/auth/register`, {method: "POST",
                headers: {"Content-Type": "application/json"}, body: JSON.stringify({username, password})});
            if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
            await window.client.login(username, password);
        }""",
        [server.url, username, PASSWORD],
    )
    before = page.evaluate("async () => (await window.client.fetch('/me')).status")
    wait_for_access_expiry()
    after = page.evaluate("async () => (await window.client.fetch('/me')).status")

    # THEN both calls succeed, and the refresh went through the cookie with the CSRF header
    assert before == 200
    assert after == 200
    assert refreshes.count == 1


def test_untrusted_origin_blocked_by_cors(
    server: MakeRun, untrusted_app: AppServer, context: BrowserContext, username: str
) -> None:
    # GIVEN a logged-in demo tab, and a page at an origin that keypin does not trust
    victim = DemoTab(context, server)
    victim.register_and_login(username)
    page = context.new_page()
    page.goto(f"{untrusted_app.origin}/app")

    # WHEN that page posts to /auth/refresh with the CSRF header and the browser's cookies
    outcome = page.evaluate(
        """async (url) => {
            try {
                const response = await fetch(`${url}/auth/refresh`, {method: "POST", credentials: "include",
                    headers: {"Content-Type": "application/json", "X-Keypin-CSRF": "1"}, body: "{}"});
                return `read ${response.status}`;
            } catch (error) {
                return error.name;
            }
        }""",
        server.url,
    )

    # THEN the browser stops the request at the preflight, and the session goes on
    assert outcome == "TypeError"
    wait_for_access_expiry()
    assert victim.call_me() == [200]
