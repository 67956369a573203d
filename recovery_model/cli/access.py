"""`recovery hash-password`: a local account's entry for .streamlit/secrets.toml."""

from __future__ import annotations

import argparse
import getpass
import sys

from recovery_model.errors import RecoveryError


def _hash_password(args: argparse.Namespace) -> int:
    from recovery_model.access import Role, hash_password

    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty() and getpass.getpass("Again: ") != password:
        raise RecoveryError("The two passwords differ.")
    print(f"[recovery_users.{args.user}]\npassword_hash = \"{hash_password(password)}\"\nrole = \"{args.role}\"")
    print(f"# add these lines to .streamlit/secrets.toml; roles: {', '.join(Role)}", file=sys.stderr)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from recovery_model.access import Role

    hasher = commands.add_parser("hash-password", help="Print a secrets.toml entry with an Argon2 password hash.")
    hasher.add_argument("--user", required=True)
    hasher.add_argument("--role", required=True, choices=[role.value for role in Role])
    hasher.set_defaults(handler=_hash_password)
