"""Every error we raise on purpose, in one place.

`RecoveryError` and its kinds are shown as they are (the CLI and the dashboard print the message instead of a
traceback): each message names the file, row, column or setting and what to do. `Refusal` and its kinds are the
service's answers to a caller (a status code; the message goes into the response, or only into the service's own
log when it would help a forger).
"""


class RecoveryError(Exception):
    """Base class: the CLI and the dashboard show its message instead of a traceback."""


class DataValidationError(RecoveryError):
    """Input data cannot be used as it is (missing columns, unreadable file, ...)."""


class SchemaError(RecoveryError, ValueError):
    """A schema file is missing, malformed or inconsistent."""


class ParameterError(RecoveryError, ValueError):
    """A parameter outside what it may be: the message names it, the value, and what it may be."""


class CheckpointError(RecoveryError):
    """A checkpoint is missing, damaged, tampered with or incompatible."""


class LogError(RecoveryError):
    """The prediction log is configured but cannot be used (unreachable, or at another version)."""


class LogUnreachable(LogError):
    """The log's database cannot be reached now (a connection or server failure, not a refused row): what was not
    written can be written later (`log.spool`)."""


class RegistryError(RecoveryError):
    """A change to the models in use that cannot be made (unknown model, nothing to roll back to, no name)."""


class UpdateError(RecoveryError):
    """The log cannot support an update of the model (too few outcomes, another model's predictions)."""


class AccessConfigError(RecoveryError):
    """The sign-in settings in secrets.toml are malformed."""


class TooManyAttempts(RecoveryError):
    """Too many failed sign-ins for one user name: the next try waits `wait` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"Too many failed sign-ins for this user name. Try again in {wait:.0f} s.")
        self.wait = wait


class ServiceConfigError(RecoveryError):
    """The service's options or its issuers file cannot be used."""


class Refusal(Exception):
    """A CDS Hooks call the service answers with an error status instead of cards."""


class Refused(Refusal):
    """Why a token was refused: logged by the service, never sent (the caller gets a bare 401)."""


class UnknownCard(Refusal):
    """Feedback about a card this service never returned (404)."""


class PrefetchNeeded(Refusal):
    """Keys are missing and there is no FHIR server to fetch them from (the spec's 412)."""


class WrongPatient(Refusal):
    """The record handed over holds a resource about someone else (400)."""
