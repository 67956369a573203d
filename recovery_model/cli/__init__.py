"""The `recovery` command line: one module per group of commands, each a thin face on the package's API.

Each command imports what it needs when it runs, so `recovery predict` on a CSV never loads Dask, the FHIR
models or the evaluation; numeric options are checked by argparse before anything loads (`parameters`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from recovery_model.cli import access, log, model, monitoring, scoring, service, updating
from recovery_model.errors import RecoveryError

COMMAND_GROUPS = (model, scoring, log, monitoring, updating, service, access)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovery", description="Clinical decision support: a calibrated risk "
                                     "of not recovering after treatment, with the reasons behind it.")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except RecoveryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
