"""Options several commands share, and argparse types that hold a number to its declared constraint."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_model.parameters import COUNT, FRACTION, HOURS_IN_A_YEAR, POSITIVE, POSITIVE_COUNT, SEED, argument_type

fraction = argument_type(FRACTION)
positive_count = argument_type(POSITIVE_COUNT)
count = argument_type(COUNT)
seed = argument_type(SEED)
hours = argument_type(HOURS_IN_A_YEAR)
positive = argument_type(POSITIVE)


def checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="The model's folder (default: $RECOVERY_CHECKPOINT, else the model in use by the "
                        "registry, else the committed model).")


def in_use(args: argparse.Namespace) -> Path:
    """The checkpoint a scoring command uses: --checkpoint, else $RECOVERY_CHECKPOINT, else the registry's model in
    use (`recovery models promote`), else the committed model."""
    from recovery_model.log.registry import checkpoint_in_use

    return checkpoint_in_use(args.checkpoint)
