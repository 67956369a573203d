"""Where the project's own files live, independent of the working directory the app or CLI starts in."""

from pathlib import Path

from recovery_model.settings import environment

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_CHECKPOINT = PROJECT_ROOT / "checkpoints" / "default"
DEFAULT_AUDIT_LOG = PROJECT_ROOT / "logs" / "audit.jsonl"
LOCAL_DATA_DIR = DATA_DIR / "local"  # git ignores it: the embedded prediction log lives here
DEFAULT_DATABASE = LOCAL_DATA_DIR / "predictions.sqlite"
SIMULATION_DATABASE = LOCAL_DATA_DIR / "simulation.sqlite"
SAMPLE_WARD = DATA_DIR / "sample_ward.csv"


def checkpoint_folder(folder: str | Path | None = None) -> Path:
    """`folder`, else $RECOVERY_CHECKPOINT, else the committed default model."""
    return Path(folder or environment().checkpoint or DEFAULT_CHECKPOINT)
