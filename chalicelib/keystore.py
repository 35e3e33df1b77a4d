"""Loading the signing keys from SSM Parameter Store."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.keys import InvalidKeyError, KeySet, parse_key_set

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

logger = logging.getLogger(__name__)

_CREATE_HINT = (
    "Create it with `python -m keypin_admin keys init --stage STAGE --kms-key-id alias/keypin-STAGE` "
    "or import an existing key with `python -m keypin_admin keys import FILE --stage STAGE "
    "--kms-key-id alias/keypin-STAGE` (without --kms-key-id, SSM uses the account's aws/ssm key)"
)


class KeyLoadError(RuntimeError):
    """The signing keys could not be loaded; the cold start must stop."""

    def __init__(self, parameter: str, problem: str, fix: str) -> None:
        super().__init__(f"cannot load the signing keys from SSM parameter {parameter}: {problem}. {fix}")
        self.parameter = parameter


def load_key_set(ssm: SSMClient, parameter: str) -> KeySet:
    """Read the JWK or JWK Set stored in `parameter` with one GetParameter call."""
    try:
        response = ssm.get_parameter(Name=parameter, WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        raise KeyLoadError(parameter, "the parameter does not exist", _CREATE_HINT) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        raise KeyLoadError(parameter, f"SSM returned {code}", _fix_for(code)) from exc
    except BotoCoreError as exc:
        raise KeyLoadError(
            parameter,
            f"SSM could not be reached ({type(exc).__name__})",
            "Check AWS_REGION, AWS_ENDPOINT_URL and the network path to SSM",
        ) from exc

    stored = response["Parameter"]
    if stored.get("Type") != "SecureString":
        raise KeyLoadError(
            parameter,
            f"the parameter has type {stored.get('Type')}, not SecureString",
            "Store the key again as a SecureString so that it is encrypted at rest",
        )

    try:
        key_set = parse_key_set(stored.get("Value", ""))
    except InvalidKeyError as exc:
        # NOTE: the parse error is built to hold no key material, so it may be shown.
        raise KeyLoadError(
            parameter,
            str(exc),
            "Store a JWK Set of kty oct, alg HS512 keys of at least 64 bytes; " + _CREATE_HINT,
        ) from None

    logger.info("Loaded signing keys from %s: kids %s", parameter, ", ".join(key_set.kids))
    return key_set


def _fix_for(code: str) -> str:
    if code in {"AccessDeniedException", "AccessDenied"}:
        return "Grant ssm:GetParameter on the parameter and kms:Decrypt on its KMS key to the function's role"
    if code in {"ThrottlingException", "TooManyUpdates"}:
        return "SSM throttled the read after all retries; retry the start, or raise the SSM throughput quota"
    if code.startswith("KMS") or code == "InvalidKeyId":
        return "Check that the KMS key of the parameter exists, is enabled and allows kms:Decrypt via SSM"
    return "Check the parameter name, the region and the function's permissions"
