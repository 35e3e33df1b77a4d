"""keypin: JWT authentication whose signing keys are pinned in SSM Parameter Store."""
from __future__ import annotations

from chalice.app import Chalice, Response

from chalicelib import logs
from chalicelib.guard import BearerGuard, claims_view
from chalicelib.http import (
    NO_STORE,
    empty_response,
    handles_errors,
    json_response,
    read_json_object,
    string_field,
)
from chalicelib.openapi import openapi_response
from chalicelib.runtime import Runtime
from chalicelib.tokens import Claims

app = Chalice(app_name="keypin")
logs.configure()

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
    pair = runtime.auth().login(string_field(body, "username"), string_field(body, "password"))
    return json_response(200, pair.as_response(), NO_STORE)


@app.route("/auth/refresh", methods=["POST"])
@handles_errors
def refresh() -> Response:
    body = read_json_object(app.current_request)
    pair = runtime.auth().refresh(string_field(body, "refresh_token"))
    return json_response(200, pair.as_response(), NO_STORE)


@app.route("/auth/logout", methods=["POST"])
@handles_errors
def logout() -> Response:
    body = read_json_object(app.current_request)
    runtime.auth().logout(string_field(body, "refresh_token"))
    return empty_response()


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
