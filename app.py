"""keypin: JWT authentication whose signing keys are pinned in SSM Parameter Store."""
from __future__ import annotations

import os

from chalice.app import Chalice, Response

from chalicelib import logs
from chalicelib.cookies import (
    COOKIE_ROUTE_CONTENT_TYPES,
    logout_with,
    presented_refresh_token,
    refresh_with,
    token_response,
    wants_refresh_cookie,
)
from chalicelib.cors import route_cors
from chalicelib.demo import CLIENT_MODULE, DEMO_PAGE, demo_file
from chalicelib.guard import BearerGuard, claims_view
from chalicelib.http import (
    empty_response,
    handles_errors,
    json_response,
    read_json_object,
    string_field,
)
from chalicelib.openapi import openapi_response
from chalicelib.runtime import Runtime
from chalicelib.settings import Settings
from chalicelib.tokens import Claims

app = Chalice(app_name="keypin")
logs.configure()
# Set before the routes are declared, because each route copies the app's CORS setting.
app.api.cors = route_cors(Settings.from_environ(os.environ).cors_allow_origin)

runtime = Runtime()
runtime.start()
bearer_required = BearerGuard(app, runtime.auth)


@app.route("/health", methods=["GET"])
@handles_errors
def health() -> Response:
    return json_response(200, {"status": "ok"})


@app.route("/openapi.json", methods=["GET"])
@handles_errors
def openapi() -> Response:
    return openapi_response()


@app.route("/auth/register", methods=["POST"])
@handles_errors
def register() -> Response:
    body = read_json_object(app.current_request)
    user = runtime.auth().register(string_field(body, "username"), string_field(body, "password"))
    return json_response(201, {"sub": user.sub, "username": user.username})


@app.route("/auth/login", methods=["POST"])
@handles_errors
def login() -> Response:
    body = read_json_object(app.current_request)
    in_cookie = wants_refresh_cookie(body, runtime.services().settings.refresh_cookie)
    pair = runtime.auth().login(string_field(body, "username"), string_field(body, "password"))
    return token_response(pair, in_cookie=in_cookie)


@app.route("/auth/refresh", methods=["POST"], content_types=COOKIE_ROUTE_CONTENT_TYPES)
@handles_errors
def refresh() -> Response:
    presented = presented_refresh_token(app.current_request, runtime.services().settings.refresh_cookie)
    return refresh_with(runtime.auth(), presented)


@app.route("/auth/logout", methods=["POST"], content_types=COOKIE_ROUTE_CONTENT_TYPES)
@handles_errors
def logout() -> Response:
    presented = presented_refresh_token(app.current_request, runtime.services().settings.refresh_cookie)
    return logout_with(runtime.auth(), presented)


@app.route("/auth/logout-all", methods=["POST"])
@handles_errors
@bearer_required
def logout_all(claims: Claims) -> Response:
    runtime.auth().logout_all(claims)
    return empty_response()


@app.route("/me", methods=["GET"])
@handles_errors
@bearer_required
def me(claims: Claims) -> Response:
    return json_response(200, claims_view(claims))


@app.route("/demo", methods=["GET"])
@handles_errors
def demo_page() -> Response:
    return demo_file(runtime.services().settings.demo_page, DEMO_PAGE)


@app.route("/demo/keypin.js", methods=["GET"])
@handles_errors
def demo_client_module() -> Response:
    return demo_file(runtime.services().settings.demo_page, CLIENT_MODULE)
