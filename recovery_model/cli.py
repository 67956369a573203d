"""The `recovery` command line: generate data, train, evaluate and predict."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from recovery_model.errors import RecoveryError

DEFAULT_ROWS = 15_000
DEFAULT_SEED = 42
DATA_DIR = Path("data")


def _generate(args: argparse.Namespace) -> int:
    from recovery_model.cohort import generate_cohort, make_sample_ward
    from recovery_model.io import write_csv

    cohort = generate_cohort(args.rows, args.seed)
    write_csv(cohort, args.output)
    print(f"Wrote {len(cohort):,} patients to {args.output} "
          f"(non-recovery {1 - cohort['recovered'].mean():.2%}, seed {args.seed}).")
    if args.ward_output:
        ward = make_sample_ward()
        write_csv(ward, args.ward_output)
        print(f"Wrote a sample ward of {len(ward)} patients to {args.ward_output}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovery", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="Write the synthetic cohort (reproduces data/patients.csv).")
    gen.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument("--output", type=Path, default=DATA_DIR / "patients.csv")
    gen.add_argument("--ward-output", type=Path, default=None,
                     help="Also write the sample ward extract here (data/sample_ward.csv).")
    gen.set_defaults(handler=_generate)
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
