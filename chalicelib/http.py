"""The HTTP edge: reading JSON bodies and turning results and errors into responses."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import Request, Response

from chalicelib.errors import InvalidRequest, InvalidToken, KeypinError, PayloadTooLarge, ServiceUnavailable

logger = logging.getLogger(__name__)

# The largest valid body is a refresh request with an 8 KiB token, or a login with a
# 1 KiB password; 16 KiB leaves room for JSON escaping without inviting large uploads.
MAX_BODY_BYTES = 16 * 1024
REALM = "keypin"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

View = TypeVar("View", bound=Callable[..., Response])


def read_json_object(request: Request | None) -> dict[str, Any]:
    """Parse the request body as a JSON object, or raise `InvalidRequest` or `PayloadTooLarge`."""
    body = request.raw_body if request is not None else b""
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object")

    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The request body is not valid JSON") from None

    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return value


def string_field(body: dict[str, Any], name: str) -> str:
    """Return the string member `name` of `body`, or raise `InvalidRequest`."""
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"The request body has no {name} field")
    if not isinstance(value, str):
        raise InvalidRequest(f"The {name} field must be a string")
    # JSON escapes can spell lone UTF-16 surrogates ("\ud800"), which no UTF-8 encoder,
    # DynamoDB or Argon2 included, accepts.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"The {name} field is not valid Unicode text") from None
    return value


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON response."""
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})})


def empty_response() -> Response:
    """Return 204 No Content."""
    return Response(body="", status_code=204, headers=dict(NO_STORE))


def error_response(error: KeypinError) -> Response:
    """Return the JSON error body of `error`, with the headers its status calls for."""
    headers: dict[str, str] = dict(NO_STORE)
    if isinstance(error, InvalidToken):
        headers["WWW-Authenticate"] = www_authenticate(error)
    elif error.status == 401:
        # RFC 9110 §15.5.2: every 401 response carries a challenge, invalid_grant included.
        headers["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    return json_response(error.status, {"error": error.code, "error_description": error.description}, headers)


def www_authenticate(error: InvalidToken) -> str:
    """Build the Bearer challenge of RFC 6750 §3."""
    # RFC 6750 §3.1: with no authentication information in the request, the
    # challenge carries no error code.
    if not error.token_sent:
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="{error.code}", error_description="{error.description}"'


def handles_errors(view: View) -> View:
    """Turn keypin's errors, AWS failures and bugs in `view` into JSON error responses."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except KeypinError as error:
            return error_response(error)
        except (ClientError, BotoCoreError) as exc:
            logger.error("AWS call failed in %s: %s", view.__name__, _aws_error_code(exc))
            return error_response(ServiceUnavailable("The service is temporarily unavailable; retry later"))
        except Exception:
            logger.exception("Unexpected error in %s", view.__name__)
            return json_response(
                500, {"error": "server_error", "error_description": "The server failed to handle the request"}
            )

    return wrapper  # type: ignore[return-value]


def _aws_error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "unknown"))
    return type(exc).__name__


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
