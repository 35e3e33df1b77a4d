"""Argument parsing and the commands of `python -m keypin_admin`."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from chalicelib import aws, logs
from chalicelib.errors import KeypinError
from chalicelib.keys import InvalidKeyError, parse_key_set
from chalicelib.passwords import MIN_PASSWORD_LENGTH, hash_password, normalise_password
from chalicelib.settings import Settings, SettingsError
from chalicelib.users import UserStore, validate_username
from keypin_admin import key_commands
from keypin_admin.errors import AdminError
from keypin_admin.jwks import dump_jwk_set, new_jwk, write_private_file
from keypin_admin.stage import ensure_tables, put_key_parameter, read_parameter

__all__ = ["AdminError", "main"]

if TYPE_CHECKING:
    # argparse has no public name for what add_subparsers() returns.
    Subparsers = argparse._SubParsersAction["_Parser"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure()
    try:
        args.handler(args)
    except (AdminError, SettingsError, InvalidKeyError, KeypinError) as exc:
        print(f"keypin_admin: error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        print(f"keypin_admin: error: AWS returned {code} for {exc.operation_name}", file=sys.stderr)
        return 1
    except (EndpointConnectionError, NoCredentialsError, NoRegionError) as exc:
        # These messages name only the endpoint or the missing setting.
        print(f"keypin_admin: error: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        # Other botocore messages, parameter validation among them, may quote request values.
        print(f"keypin_admin: error: the AWS call failed with {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--stage", default=os.environ.get("KEYPIN_STAGE", "local"),
                        help="stage whose parameter and tables to use (default: $KEYPIN_STAGE or local)")
    common.add_argument("--region", default=None, help="AWS region (default: AWS_REGION from the environment)")
    kms = _Parser(add_help=False)
    kms.add_argument("--kms-key-id", default=None,
                     help="KMS key that encrypts a new SecureString parameter (default: aws/ssm)")

    parser = _Parser(prog="python -m keypin_admin", description="Operate a keypin stage. AWS_ENDPOINT_URL, "
                     "when set, sends every AWS call to that endpoint, such as moto's server.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    bootstrap = commands.add_parser("bootstrap", parents=[common, kms], help="create the tables and key parameter",
                                    description="Create the users and sessions tables and the key parameter when "
                                    "missing; print what was created and what already existed.")
    bootstrap.add_argument("--key-file", type=Path, default=None,
                           help="JWK Set file that seeds a missing parameter; created (mode 0600) when absent")
    bootstrap.set_defaults(handler=_bootstrap)

    _add_keys_commands(commands, common, kms)
    _add_users_commands(commands, common)
    return parser


def _add_keys_commands(commands: Subparsers, common: _Parser, kms: _Parser) -> None:
    keys = commands.add_parser("keys", help="manage the signing keys",
                               description="Manage the JWK Set of signing keys in the stage's SSM parameter.")
    actions = keys.add_subparsers(required=True, metavar="ACTION")

    init = actions.add_parser("init", parents=[common, kms], help="store a new signing key; never overwrites",
                              description="Store a new 64-byte HS512 key as a one-key JWK Set in a new "
                              "SecureString parameter. Fails when the parameter exists.")
    init.set_defaults(handler=_keys_init)

    rotate = actions.add_parser("rotate", parents=[common], help="add a new signing key; older keys still verify",
                                description="Put a new key first in the JWK Set, where it signs; the older keys "
                                "stay for verification. Warm containers pick it up within KEYPIN_KEY_MAX_AGE_SECONDS.")
    rotate.set_defaults(handler=_keys_rotate)

    retire = actions.add_parser("retire", parents=[common], help="remove verification keys",
                                description="Remove verification keys; tokens signed with them stop verifying. "
                                "The signing key and the last key are never removed.")
    chosen = retire.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--kid", help="kid of the key to remove (see `keys show`)")
    chosen.add_argument("--older-than", type=_duration, metavar="DURATION",
                        help="remove every verification key created longer ago than DURATION, such as 90d or 12h "
                        "(units s, m, h, d, w)")
    retire.set_defaults(handler=_keys_retire)

    show = actions.add_parser("show", parents=[common], help="list the kid, creation time and role of each key",
                              description="List the kid, creation time (UTC) and role of each key; the key "
                              "material is never printed.")
    show.set_defaults(handler=_keys_show)

    import_ = actions.add_parser("import", parents=[common, kms], help="store keys from a JWK or JWK Set file",
                                 description="Store the JWK or JWK Set in FILE, checked as a cold start checks it. "
                                 "A WebCrypto export (with key_ops and ext, maybe without kid) is stored as it is.")
    import_.add_argument("file", type=Path, metavar="FILE", help="JSON file with a JWK or a JWK Set")
    import_.add_argument("--append", action="store_true",
                         help="add the keys after the existing ones, for verification only, when the parameter exists")
    import_.set_defaults(handler=_keys_import)


def _add_users_commands(commands: Subparsers, common: _Parser) -> None:
    users = commands.add_parser("users", help="manage users", description="Manage the users of a stage.")
    user_actions = users.add_subparsers(required=True, metavar="ACTION")
    add = user_actions.add_parser("add", parents=[common], help="add a user; the password comes from a prompt or stdin",
                                  description="Add a user. The password is read from a prompt on a terminal, "
                                  "otherwise from the first line of stdin; never from the command line.")
    add.add_argument("username", metavar="USERNAME")
    add.set_defaults(handler=_users_add)


def _duration(text: str) -> int:
    try:
        return key_commands.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    ssm = aws.ssm_client(_region(args))
    key_commands.init_keys(ssm, _settings(args).key_parameter, kms_key_id=args.kms_key_id, output=print)


def _keys_rotate(args: argparse.Namespace) -> None:
    ssm = aws.ssm_client(_region(args))
    key_commands.rotate_keys(ssm, _settings(args).key_parameter, output=print)


def _keys_retire(args: argparse.Namespace) -> None:
    ssm = aws.ssm_client(_region(args))
    key_commands.retire_keys(ssm, _settings(args).key_parameter, kid=args.kid, older_than_seconds=args.older_than,
                             output=print)


def _keys_show(args: argparse.Namespace) -> None:
    ssm = aws.ssm_client(_region(args))
    key_commands.show_keys(ssm, _settings(args).key_parameter, output=print)


def _keys_import(args: argparse.Namespace) -> None:
    ssm = aws.ssm_client(_region(args))
    key_commands.import_keys(ssm, _settings(args).key_parameter, args.file, append=args.append,
                             kms_key_id=args.kms_key_id, output=print)


def _users_add(args: argparse.Namespace) -> None:
    settings = _settings(args)
    username = validate_username(args.username)
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {username}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")

    if not password:
        raise AdminError("no password given: type it at the prompt or send it on stdin")

    # The same rules and NFKC normalisation as registration over HTTP, so that login matches.
    password = normalise_password(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")

    store = UserStore(aws.dynamodb_client(_region(args)), settings.users_table)
    user = store.create(username, hash_password(password))
    print(f"user {user.username}: created with sub {user.sub}")


def _check_loadable(text: str, source: str) -> tuple[str, ...]:
    try:
        return parse_key_set(text).kids
    except InvalidKeyError as exc:
        raise AdminError(f"{source} is not a usable key set: {exc}") from None
