"""The errors we raise on purpose: each message names the file, row or column and what to do."""


class RecoveryError(Exception):
    """Base class: the CLI and the dashboard show its message instead of a traceback."""


class DataValidationError(RecoveryError):
    """Input data cannot be used as it is (missing columns, unreadable file, ...)."""


class CheckpointError(RecoveryError):
    """A checkpoint is missing, damaged, tampered with or incompatible."""


class LogError(RecoveryError):
    """The prediction log is configured but cannot be used (unreachable, or at another version)."""


class UpdateError(RecoveryError):
    """The log cannot support an update of the model (too few outcomes, another model's predictions)."""
