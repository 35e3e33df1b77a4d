"""Cold starts in one process: keys loaded once from SSM, tokens valid across containers."""
from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import jwt
import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.keystore import KeyLoadError
from keypin_admin.jwks import dump_jwk_set, new_jwk
from keypin_admin.stage import ensure_tables
from tests.conftest import Stage
from tests.support import AwsEvents, aws_error_response, cold_start
from tests.test_keys import b64url, oct_jwk

JSON = {"Content-Type": "application/json"}


def login(app_module: ModuleType) -> dict[str, Any]:
    with Client(app_module.app) as client:
        credentials = json.dumps({"username": "alice", "password": "correct horse"})
        client.http.post("/auth/register", body=credentials, headers=JSON)
        response = client.http.post("/auth/login", body=credentials, headers=JSON)
    assert response.status_code == 200
    return response.json_body  # type: ignore[no-any-return]


def me_status(app_module: ModuleType, access_token: str) -> int:
    with Client(app_module.app) as client:
        response = client.http.get("/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code  # type: ignore[no-any-return]


def put_key_value(stage: Stage, value: str, parameter_type: str = "SecureString") -> None:
    aws.ssm_client().put_parameter(Name=stage.parameter, Value=value, Type=parameter_type, Overwrite=True)  # type: ignore[arg-type]


def test_token_survives_cold_start(app_module: ModuleType) -> None:
    tokens = login(app_module)

    restarted = cold_start()

    assert restarted is not app_module
    assert me_status(restarted, tokens["access_token"]) == 200


def test_two_containers_accept_each_other_tokens(provisioned: Stage) -> None:
    first = cold_start()
    tokens_from_first = login(first)
    second = cold_start()

    with Client(second.app) as client:
        credentials = json.dumps({"username": "alice", "password": "correct horse"})
        tokens_from_second = client.http.post("/auth/login", body=credentials, headers=JSON).json_body

    assert me_status(second, tokens_from_first["access_token"]) == 200
    assert me_status(first, tokens_from_second["access_token"]) == 200


def test_token_header_names_the_signing_kid(app_module: ModuleType, signing_jwk: dict[str, Any]) -> None:
    tokens = login(app_module)

    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == signing_jwk["kid"]
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS512"


def test_jwk_set_first_key_signs_second_verifies(provisioned: Stage) -> None:
    # GIVEN a container that signs with an old key
    old_key = json.loads(aws.ssm_client().get_parameter(Name=provisioned.parameter, WithDecryption=True)
                         ["Parameter"]["Value"])["keys"][0]
    old_container = cold_start()
    tokens = login(old_container)

    # WHEN a new key is put first and a new container starts
    new_key = new_jwk()
    put_key_value(provisioned, dump_jwk_set([new_key, old_key]))
    new_container = cold_start()

    # THEN the new container verifies the old token and signs with the new key
    with Client(new_container.app) as client:
        credentials = json.dumps({"username": "alice", "password": "correct horse"})
        fresh = client.http.post("/auth/login", body=credentials, headers=JSON).json_body
    assert me_status(new_container, tokens["access_token"]) == 200
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_key["kid"]


def test_key_without_alg_signs_hs512(stage: Stage, mocked_aws: None, aws_events: AwsEvents) -> None:
    ensure_tables(aws.dynamodb_client(), stage.settings, lambda line: None)
    put_key_value(stage, json.dumps(oct_jwk()))

    tokens = login(cold_start())

    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS512"


def test_get_parameter_once_per_cold_start(provisioned: Stage, aws_events: AwsEvents) -> None:
    reads = aws_events.count("before-call.ssm.GetParameter")

    module = cold_start()
    tokens = login(module)
    with Client(module.app) as client:
        statuses = {
            client.http.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code
            for _ in range(50)
        }

    assert statuses == {200}
    assert reads[0] == 1


def test_get_parameter_asks_for_decryption(provisioned: Stage, aws_events: AwsEvents) -> None:
    requests: list[dict[str, Any]] = []
    aws_events.register_first("provide-client-params.ssm.GetParameter",
                              lambda params, **_: requests.append(dict(params)))

    cold_start()

    assert requests == [{"Name": provisioned.parameter, "WithDecryption": True}]


def parameter_absent(stage: Stage) -> bool:
    return not aws.ssm_client().describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [stage.parameter]}]
    )["Parameters"]


def test_missing_parameter_stops_cold_start_and_creates_nothing(stage: Stage, mocked_aws: None) -> None:
    with pytest.raises(KeyLoadError) as info:
        cold_start()

    assert stage.parameter in str(info.value)
    assert "keypin_admin keys init" in str(info.value)
    assert parameter_absent(stage)


BAD_KEYS: list[tuple[str, str]] = [
    ("{not json", "not valid JSON"),
    ('{"keys": []}', "no keys"),
    (json.dumps({"kty": "RSA", "n": "abc", "e": "AQAB"}), "kty 'RSA'"),
    (json.dumps(oct_jwk(alg="HS256")), "alg 'HS256'"),
    (json.dumps(oct_jwk(size=63)), "63 bytes"),
    (json.dumps({"keys": [oct_jwk(), oct_jwk(alg="HS384")]}), "alg 'HS384'"),
]


@pytest.mark.parametrize(("value", "fragment"), BAD_KEYS)
def test_bad_key_stops_cold_start(stage: Stage, mocked_aws: None, value: str, fragment: str) -> None:
    put_key_value(stage, value)

    with pytest.raises(KeyLoadError) as info:
        cold_start()

    message = str(info.value)
    assert stage.parameter in message
    assert fragment in message
    assert "keypin_admin" in message
    assert aws.ssm_client().get_parameter(Name=stage.parameter, WithDecryption=True)["Parameter"]["Value"] == value


def test_bad_key_error_never_shows_key_material(stage: Stage, mocked_aws: None) -> None:
    short = b64url(b"s" * 40)
    put_key_value(stage, json.dumps({"kty": "oct", "k": short, "alg": "HS512"}))

    with pytest.raises(KeyLoadError) as info:
        cold_start()

    assert short not in str(info.value)
    assert short not in repr(info.value.__cause__)


def test_plain_string_parameter_stops_cold_start(stage: Stage, mocked_aws: None) -> None:
    put_key_value(stage, dump_jwk_set([new_jwk()]), parameter_type="String")

    with pytest.raises(KeyLoadError, match="SecureString"):
        cold_start()


def test_access_denied_stops_cold_start(stage: Stage, mocked_aws: None, aws_events: AwsEvents) -> None:
    put_key_value(stage, dump_jwk_set([new_jwk()]))
    aws_events.register_first("before-send.ssm.GetParameter",
                              lambda **_: aws_error_response(400, "AccessDeniedException"))

    with pytest.raises(KeyLoadError) as info:
        cold_start()

    assert "AccessDeniedException" in str(info.value)
    assert "ssm:GetParameter" in str(info.value)


def test_five_throttled_reads_then_key_loads(stage: Stage, mocked_aws: None, aws_events: AwsEvents) -> None:
    put_key_value(stage, dump_jwk_set([new_jwk()]))
    throttled = [0]

    def throttle_five_times(**_: Any) -> Any:
        if throttled[0] >= 5:
            return None
        throttled[0] += 1
        return aws_error_response(400, "ThrottlingException", "Rate exceeded")

    aws_events.register_first("before-send.ssm.GetParameter", throttle_five_times)

    module = cold_start()

    assert throttled[0] == 5
    assert module.runtime.services().settings.key_parameter == stage.parameter


def test_persistent_throttling_stops_cold_start(stage: Stage, mocked_aws: None, aws_events: AwsEvents) -> None:
    put_key_value(stage, dump_jwk_set([new_jwk()]))
    attempts = [0]

    def throttle(**_: Any) -> Any:
        attempts[0] += 1
        return aws_error_response(400, "ThrottlingException", "Rate exceeded")

    aws_events.register_first("before-send.ssm.GetParameter", throttle)

    with pytest.raises(KeyLoadError) as info:
        cold_start()

    assert attempts[0] == aws.SSM_RETRIES.attempts
    assert "ThrottlingException" in str(info.value)
    assert stage.parameter in str(info.value)


def test_ssm_retry_worst_case_fits_lambda_init() -> None:
    # The last retry starts within the budget and then takes at most one connect and one read.
    timeouts = aws.SSM_CONFIG.connect_timeout + aws.SSM_CONFIG.read_timeout
    worst_case = aws.SSM_RETRIES.budget_seconds + timeouts

    assert worst_case <= 8.5


@pytest.mark.parametrize(
    ("code", "hint"),
    [("AccessDeniedException", "ssm:GetParameter"), ("KMSAccessDeniedException", "KMS key"),
     ("InvalidKeyId", "KMS key")],
)
def test_access_errors_stop_cold_start_with_hint(
    stage: Stage, mocked_aws: None, aws_events: AwsEvents, code: str, hint: str
) -> None:
    put_key_value(stage, dump_jwk_set([new_jwk()]))
    aws_events.register_first("before-send.ssm.GetParameter", lambda **_: aws_error_response(400, code))

    with pytest.raises(KeyLoadError) as info:
        cold_start()

    assert code in str(info.value)
    assert hint in str(info.value)
    assert stage.parameter in str(info.value)


def test_unreachable_ssm_stops_cold_start(stage: Stage, mocked_aws: None, aws_events: AwsEvents) -> None:
    from botocore.exceptions import ConnectTimeoutError

    put_key_value(stage, dump_jwk_set([new_jwk()]))

    def time_out(request: Any, **_: Any) -> Any:
        raise ConnectTimeoutError(endpoint_url=request.url)

    aws_events.register_first("before-send.ssm.GetParameter", time_out)

    with pytest.raises(KeyLoadError) as info:
        cold_start()

    assert "could not be reached" in str(info.value)
    assert stage.parameter in str(info.value)
