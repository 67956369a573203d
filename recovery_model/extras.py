"""The optional parts of the package (pip extras), and the message when one is used but not installed.

The core (scoring, readers, training, the CLI) installs alone; the dashboard, the Dask engine and FHIR input
each need their extra. `make dashboard` and `make test` install them all.
"""

from __future__ import annotations

from importlib.util import find_spec

from recovery_model.errors import RecoveryError


def require(module: str, extra: str, what: str) -> None:
    """Refuse, with the command that fixes it, to use `what` when its extra's `module` is not installed."""
    try:
        found = find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing too ('fhir' of 'fhir.resources')
        found = False
    if not found:
        raise RecoveryError(f"{what} needs the '{extra}' extra, which is not installed here: "
                            f"pip install 'recovery-model[{extra}]' (or `make test`, which installs every extra).")
