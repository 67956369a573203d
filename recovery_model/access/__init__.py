"""Who may see what: roles, sign-in (the hospital's OpenID Connect provider or local accounts), time-out, audit."""

from recovery_model.access.audit import AUDIT_FIELDS, AuditLog, file_digest, verify_audit_log
from recovery_model.access.idle import Activity, IdleClock, session_settings
from recovery_model.access.oidc import (
    RoleClaim,
    check_provider_settings,
    issued_at,
    login_key,
    provider_metadata,
    user_from_claims,
)
from recovery_model.access.passwords import SignIn, Users, hash_password
from recovery_model.access.roles import (
    NO_ROLE,
    OPEN_ACCESS,
    ROLES,
    Page,
    Role,
    User,
    combined_role,
    pages_for,
    role_label,
)
from recovery_model.errors import AccessConfigError, TooManyAttempts

__all__ = ["AUDIT_FIELDS", "NO_ROLE", "OPEN_ACCESS", "ROLES", "AccessConfigError", "Activity", "AuditLog",
           "IdleClock", "Page", "Role", "RoleClaim", "SignIn", "TooManyAttempts", "User", "Users",
           "check_provider_settings", "combined_role", "file_digest", "hash_password", "issued_at", "login_key",
           "pages_for", "provider_metadata", "role_label", "session_settings", "user_from_claims", "verify_audit_log"]
