"""The `keys` commands: create, rotate, retire, list and import the signing keys of a stage.

Each command that changes the key set reads the parameter, edits its JWK Set and writes
it back, keeping the parameter's KMS key. The JWKs are stored as they were given, so an
imported WebCrypto export keeps its `key_ops` and `ext` members.
"""
from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.keys import InvalidKeyError
from keypin_admin.errors import AdminError
from keypin_admin.jwks import created_at, dump_jwk_set, jwk_members, kid_of, new_jwk
from keypin_admin.stage import MAX_VALUE_LENGTH, StoredParameter, put_key_parameter, read_stored_parameter

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

Output = Callable[[str], None]

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> int:
    """Return the seconds in a duration such as `90d`, `12h`, `30m`, `45s` or `2w`."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"invalid duration {text!r}: use a whole number and a unit s, m, h, d or w, such as 90d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def init_keys(ssm: SSMClient, parameter: str, *, kms_key_id: str | None, output: Output) -> None:
    """Store a new one-key JWK Set in `parameter`, which must not exist yet."""
    if read_stored_parameter(ssm, parameter) is not None:
        raise AdminError(f"parameter {parameter} already exists; init never overwrites it (see `keys rotate`)")

    jwk = new_jwk()
    put_key_parameter(ssm, parameter, dump_jwk_set([jwk]), kms_key_id=kms_key_id, overwrite=False)
    output(f"parameter {parameter}: created (SecureString, kid {jwk['kid']} signs)")


def rotate_keys(ssm: SSMClient, parameter: str, *, output: Output) -> None:
    """Put a new key first, so that it signs, and keep every older key for verification."""
    stored = _read_existing(ssm, parameter)
    members = _members(stored.value, parameter)

    jwk = new_jwk()
    _write(ssm, parameter, stored, [jwk, *members])
    output(f"parameter {parameter}: kid {jwk['kid']} now signs; "
           f"kids {', '.join(kid_of(member) for member in members)} still verify")


def retire_keys(ssm: SSMClient, parameter: str, *, kid: str | None, older_than_seconds: int | None,
                output: Output) -> None:
    """Remove verification keys, chosen by `kid` or by age; the signing key always stays."""
    stored = _read_existing(ssm, parameter)
    members = _members(stored.value, parameter)

    if kid is not None:
        retired = _select_by_kid(members, kid, parameter)
    else:
        retired = _select_by_age(members, older_than_seconds or 0, output)
    if not retired:
        output(f"parameter {parameter}: no key retired")
        return

    _write(ssm, parameter, stored, [member for member in members if kid_of(member) not in retired])
    for retired_kid in retired:
        output(f"kid {retired_kid}: retired; tokens signed with it no longer verify")


def show_keys(ssm: SSMClient, parameter: str, *, output: Output) -> None:
    """List the `kid`, creation time and role of each key, never the key material."""
    stored = _read_existing(ssm, parameter)
    members = _members(stored.value, parameter)

    rows = [("KID", "CREATED", "ROLE")]
    for position, member in enumerate(members):
        role = "signs and verifies" if position == 0 else "verifies"
        rows.append((kid_of(member), _format_time(created_at(member)), role))

    kid_width = max(len(row[0]) for row in rows)
    for kid, created, role in rows:
        output(f"{kid:<{kid_width}}  {created:<20}  {role}")


def import_keys(ssm: SSMClient, parameter: str, path: Path, *, append: bool, kms_key_id: str | None,
                output: Output) -> None:
    """Store the JWK or JWK Set of file `path`: as a new parameter, or after the existing keys with `append`."""
    imported = _members(_read_file(path), str(path))
    kids = ", ".join(kid_of(member) for member in imported)
    stored = read_stored_parameter(ssm, parameter)

    if stored is None:
        value = dump_jwk_set(imported)
        _check_length(value, MAX_VALUE_LENGTH["Standard"], parameter)
        put_key_parameter(ssm, parameter, value, kms_key_id=kms_key_id, overwrite=False)
        output(f"parameter {parameter}: created from {path} (SecureString, kids {kids}; "
               f"kid {kid_of(imported[0])} signs)")
        return

    if not append:
        raise AdminError(f"parameter {parameter} already exists; add the keys for verification only with --append")

    members = _members(stored.value, parameter)
    existing = {kid_of(member) for member in members}
    duplicates = [kid_of(member) for member in imported if kid_of(member) in existing]
    if duplicates:
        raise AdminError(f"parameter {parameter} already has kid {', '.join(duplicates)}; nothing was imported")

    _write(ssm, parameter, stored, [*members, *imported])
    output(f"parameter {parameter}: kids {kids} added from {path}; they verify, kid {kid_of(members[0])} still signs")


def _read_existing(ssm: SSMClient, parameter: str) -> StoredParameter:
    stored = read_stored_parameter(ssm, parameter)
    if stored is None:
        raise AdminError(f"parameter {parameter} does not exist; create it with `keys init` or `keys import FILE`")
    return stored


def _members(text: str, source: str) -> list[dict[str, Any]]:
    try:
        return jwk_members(text)
    except InvalidKeyError as exc:
        # NOTE: parse errors name keys by position and kid only, so they may be printed.
        raise AdminError(f"{source} is not a usable key set: {exc}") from None


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AdminError(f"{path} is not UTF-8 text") from None


def _select_by_kid(members: list[dict[str, Any]], kid: str, parameter: str) -> set[str]:
    kids = [kid_of(member) for member in members]
    if kid not in kids:
        raise AdminError(f"parameter {parameter} has no key with kid {kid!r}; `keys show` lists the kids")
    if len(kids) == 1:
        raise AdminError(f"kid {kid} is the last key of parameter {parameter}; it is never retired")
    if kids[0] == kid:
        raise AdminError(f"kid {kid} is the signing key; run `keys rotate` first so that a new key signs")
    return {kid}


def _select_by_age(members: list[dict[str, Any]], older_than_seconds: int, output: Output) -> set[str]:
    cutoff = int(time.time()) - older_than_seconds
    signer, verifiers = members[0], members[1:]

    signer_created = created_at(signer)
    if signer_created is not None and signer_created < cutoff:
        output(f"kid {kid_of(signer)}: kept although older, because it is the signing key")

    retired: set[str] = set()
    for member in verifiers:
        created = created_at(member)
        if created is None:
            output(f"kid {kid_of(member)}: kept because its creation time is unknown; retire it with --kid")
        elif created < cutoff:
            retired.add(kid_of(member))
    return retired


def _write(ssm: SSMClient, parameter: str, stored: StoredParameter, members: list[dict[str, Any]]) -> None:
    value = dump_jwk_set(members)
    _check_length(value, stored.max_value_length, parameter)

    version = put_key_parameter(ssm, parameter, value, kms_key_id=stored.kms_key_id, overwrite=True)

    # SSM has no conditional write. A version gap means another write landed between this
    # command's read and write, and this write replaced it.
    if version != stored.version + 1:
        raise AdminError(f"parameter {parameter} was changed by someone else while this command ran "
                         f"(read version {stored.version}, wrote version {version}); "
                         "check the keys with `keys show` and repeat the other change")


def _check_length(value: str, limit: int, parameter: str) -> None:
    if len(value) > limit:
        raise AdminError(f"the key set would be {len(value)} characters, over the {limit}-character limit of "
                         f"parameter {parameter}; retire old keys first")


def _format_time(epoch_seconds: int | None) -> str:
    if epoch_seconds is None:
        return "unknown"
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
