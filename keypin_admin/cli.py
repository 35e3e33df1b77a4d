"""Argument parsing and the commands of `python -m keypin_admin`."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import KeypinError
from chalicelib.keys import InvalidKeyError, parse_key_set
from chalicelib.passwords import hash_password
from chalicelib.settings import Settings, SettingsError
from chalicelib.users import UserStore, validate_username
from keypin_admin.jwks import dump_jwk_set, new_jwk, write_private_file
from keypin_admin.stage import ensure_tables, put_key_parameter, read_parameter


class AdminError(Exception):
    """A command cannot go on; the message is printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (AdminError, SettingsError, InvalidKeyError, KeypinError) as exc:
        print(f"keypin_admin: error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        print(f"keypin_admin: error: AWS returned {code} for {exc.operation_name}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"keypin_admin: error: AWS could not be reached: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stage", default=os.environ.get("KEYPIN_STAGE", "local"),
                        help="stage whose parameter and tables to use (default: $KEYPIN_STAGE or local)")
    common.add_argument("--region", default=None, help="AWS region (default: AWS_REGION from the environment)")

    parser = argparse.ArgumentParser(prog="python -m keypin_admin", description="Operate a keypin stage.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    bootstrap = commands.add_parser("bootstrap", parents=[common], help="create the tables and key parameter")
    bootstrap.add_argument("--key-file", type=Path, default=None,
                           help="JWK Set file that seeds a missing parameter; created (mode 0600) when absent")
    bootstrap.add_argument("--kms-key-id", default=None, help="KMS key for the SecureString (default: aws/ssm)")
    bootstrap.set_defaults(handler=_bootstrap)

    keys = commands.add_parser("keys", help="manage the signing keys").add_subparsers(required=True, metavar="ACTION")
    init = keys.add_parser("init", parents=[common], help="store a new signing key; never overwrites")
    init.add_argument("--kms-key-id", default=None, help="KMS key for the SecureString (default: aws/ssm)")
    init.set_defaults(handler=_keys_init)
    show = keys.add_parser("show", parents=[common], help="list the kid and role of each key, never the key")
    show.set_defaults(handler=_keys_show)

    users = commands.add_parser("users", help="manage users").add_subparsers(required=True, metavar="ACTION")
    add = users.add_parser("add", parents=[common], help="add a user; the password is read from a prompt or stdin")
    add.add_argument("username")
    add.set_defaults(handler=_users_add)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_environ({**os.environ, "KEYPIN_STAGE": args.stage})


def _region(args: argparse.Namespace) -> str | None:
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _bootstrap(args: argparse.Namespace) -> None:
    settings = _settings(args)
    ensure_tables(aws.dynamodb_client(_region(args)), settings, print)

    ssm = aws.ssm_client(_region(args))
    stored = read_parameter(ssm, settings.key_parameter)
    key_file: Path | None = args.key_file
    seed = key_file.read_text(encoding="utf-8") if key_file is not None and key_file.exists() else None

    if stored is not None:
        print(f"parameter {settings.key_parameter}: already exists")
        if seed is not None and seed.strip() != stored.strip():
            print(f"warning: {key_file} differs from parameter {settings.key_parameter}; "
                  "the parameter is used, the file is not", file=sys.stderr)
        return

    if seed is None:
        seed = dump_jwk_set([new_jwk()])
        if key_file is not None:
            write_private_file(key_file, seed)
            print(f"key file {key_file}: created with mode 0600")
    _check_loadable(seed, str(key_file))

    put_key_parameter(ssm, settings.key_parameter, seed.strip(), kms_key_id=args.kms_key_id, overwrite=False)
    print(f"parameter {settings.key_parameter}: created (SecureString, kids {', '.join(parse_key_set(seed).kids)})")


def _keys_init(args: argparse.Namespace) -> None:
    settings = _settings(args)
    ssm = aws.ssm_client(_region(args))
    if read_parameter(ssm, settings.key_parameter) is not None:
        raise AdminError(f"parameter {settings.key_parameter} already exists; it is never overwritten by init")

    value = dump_jwk_set([new_jwk()])
    put_key_parameter(ssm, settings.key_parameter, value, kms_key_id=args.kms_key_id, overwrite=False)
    print(f"parameter {settings.key_parameter}: created (SecureString, kid {parse_key_set(value).signer.kid})")


def _keys_show(args: argparse.Namespace) -> None:
    settings = _settings(args)
    stored = read_parameter(aws.ssm_client(_region(args)), settings.key_parameter)
    if stored is None:
        raise AdminError(f"parameter {settings.key_parameter} does not exist; create it with `keys init`")

    for position, kid in enumerate(_check_loadable(stored, settings.key_parameter)):
        print(f"{kid}\t{'signs and verifies' if position == 0 else 'verifies'}")


def _users_add(args: argparse.Namespace) -> None:
    settings = _settings(args)
    username = validate_username(args.username)
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {username}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise AdminError("the password is empty")

    store = UserStore(aws.dynamodb_client(_region(args)), settings.users_table)
    user = store.create(username, hash_password(password))
    print(f"user {user.username}: created with sub {user.sub}")


def _check_loadable(text: str, source: str) -> tuple[str, ...]:
    try:
        return parse_key_set(text).kids
    except InvalidKeyError as exc:
        raise AdminError(f"{source} is not a usable key set: {exc}") from None
