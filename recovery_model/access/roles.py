"""Who may see what: the role table, and the user a sign-in yields."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    BED_MANAGER = "bed_manager"
    ANALYST = "analyst"
    ADMIN = "admin"


class Page(StrEnum):
    HOME = "home"
    PATIENT = "patient"
    WARD = "ward"
    MODEL = "model"
    MONITORING = "monitoring"


ROLES: dict[str, frozenset[str]] = {
    Role.CLINICIAN: frozenset({Page.PATIENT}),
    Role.BED_MANAGER: frozenset({Page.WARD}),
    Role.ANALYST: frozenset({Page.MODEL, Page.MONITORING}),
    Role.ADMIN: frozenset({Page.PATIENT, Page.WARD, Page.MODEL, Page.MONITORING}),
}
OPEN_ACCESS = "open"
NO_ROLE = ""
ROLE_SEPARATOR = "+"


def combined_role(roles: set[str] | frozenset[str] | list[str]) -> str:
    """One role string for a user who holds several (a directory often grants more than one): 'admin+analyst'."""
    return ROLE_SEPARATOR.join(sorted(set(roles)))


def role_label(role: str) -> str:
    """A role (or a combined role) as people read it: 'bed manager, clinician'."""
    return ", ".join(part.replace("_", " ") for part in role.split(ROLE_SEPARATOR))


def pages_for(role: str) -> frozenset[str]:
    """Pages a role (or a combined role) may open; Home is open to every signed-in user and is not listed."""
    if role == OPEN_ACCESS:
        return ROLES[Role.ADMIN]
    return frozenset().union(*(ROLES.get(part, frozenset()) for part in role.split(ROLE_SEPARATOR)))


@dataclass(frozen=True)
class User:
    """A signed-in user: the name shown and audited, the role, and the provider's subject (OIDC only)."""

    name: str
    role: str
    subject: str = ""
