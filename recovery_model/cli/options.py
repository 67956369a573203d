"""Options several commands share, and argparse types that hold a number to its declared constraint."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_model.parameters import COUNT, FRACTION, HOURS_IN_A_YEAR, POSITIVE_COUNT, SEED, argument_type
from recovery_model.paths import DEFAULT_CHECKPOINT

fraction = argument_type(FRACTION)
positive_count = argument_type(POSITIVE_COUNT)
count = argument_type(COUNT)
seed = argument_type(SEED)
hours = argument_type(HOURS_IN_A_YEAR)


def checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="The model's folder (default: $RECOVERY_CHECKPOINT, else the committed model).")
