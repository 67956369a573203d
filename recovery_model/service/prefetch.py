"""The patient's record as the EHR hands it over: the prefetch, completed from its FHIR server where keys are
missing, gathered into one Bundle for the same FHIR reader `recovery predict` uses.

Per CDS Hooks 2.0: a key the EHR left out is fetched from `fhirServer` with `fhirAuthorization` (its access
token is used for the request and never logged or kept); a key whose value is an OperationOutcome is a prefetch
error, treated like a key left out; `null` means the EHR has no such data; a searchset Bundle may be paginated,
and its `next` pages are followed only with a FHIR server. Without a server, a missing key is the caller's to
supply (412). A resource about another patient than `context.patientId` is refused, never scored as this one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recovery_model.errors import PrefetchNeeded, WrongPatient

if TYPE_CHECKING:
    import httpx

MISSING = object()


@dataclass
class Record:
    """The resources gathered, and what could not be read (which makes the card say so rather than guess)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)

    def bundle(self) -> dict[str, Any]:
        """The resources gathered, as one Bundle (`read_fhir_bundle` reads it)."""
        return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in self.resources]}


def gather(request: dict[str, Any], templates: dict[str, str], timeout_s: float) -> Record:
    context = request.get("context") or {}
    patient = str(context["patientId"])
    given = request.get("prefetch") or {}
    server = request.get("fhirServer")
    token = (request.get("fhirAuthorization") or {}).get("access_token")
    deadline = time.monotonic() + timeout_s
    record = Record()
    missing = [key for key in templates if _is_missing(given.get(key, MISSING))]
    if missing and not server:
        raise PrefetchNeeded(f"prefetch {', '.join(missing)} missing and no fhirServer to fetch it from")
    with _Client(server, token, deadline) as client:
        for key, template in templates.items():
            value = given.get(key, MISSING)
            if value is None:
                continue  # the EHR has no such data
            if _is_missing(value):
                query = _render(template, context)
                if query is None:
                    continue  # the template needs what this hook's context lacks (an encounter id)
                value = client.get(key, query, record)
                if value is None:
                    continue
            record.resources += _resources(key, value, client, record)
    for resource in record.resources:
        _check_patient(resource, patient)
    return record


def _is_missing(value: Any) -> bool:
    return value is MISSING or (isinstance(value, dict) and value.get("resourceType") == "OperationOutcome")


def _render(template: str, context: dict[str, Any]) -> str | None:
    out = template
    for name in ("patientId", "encounterId", "userId"):
        placeholder = "{{context." + name + "}}"
        if placeholder in out:
            if not context.get(name):
                return None
            out = out.replace(placeholder, str(context[name]))
    return out


def _resources(key: str, value: Any, client: _Client, record: Record) -> list[dict[str, Any]]:
    """A resource as it is; a Bundle's entries, with its further pages where a server can give them."""
    if not isinstance(value, dict) or "resourceType" not in value:
        raise WrongPatient(f"prefetch {key} is not a FHIR resource")
    if value["resourceType"] != "Bundle":
        return [value]
    out: list[dict[str, Any]] = []
    page: dict[str, Any] | None = value
    while page is not None:
        entries = [e.get("resource") for e in page.get("entry", []) if isinstance(e, dict)]
        out += [r for r in entries if isinstance(r, dict) and r.get("resourceType") != "OperationOutcome"]
        following = next((link.get("url") for link in page.get("link", []) if link.get("relation") == "next"),
                         None)
        page = client.page(key, following, record) if following else None
    return out


def _check_patient(resource: dict[str, Any], patient: str) -> None:
    kind = resource.get("resourceType")
    if kind == "Patient":
        if str(resource.get("id")) != patient:
            raise WrongPatient(f"the prefetch holds Patient/{resource.get('id')}, not Patient/{patient} of the "
                               "hook's context")
        return
    reference = str((resource.get("subject") or {}).get("reference", ""))
    if reference and not reference.endswith(f"Patient/{patient}"):
        raise WrongPatient(f"the prefetch holds {kind}/{resource.get('id')} about {reference}, not Patient/{patient} "
                           "of the hook's context")


class _Client:
    """GETs against the EHR's FHIR server within the call's time budget; a failure is noted, not raised."""

    def __init__(self, server: str | None, token: str | None, deadline: float) -> None:
        self.server, self.deadline = (server or "").rstrip("/"), deadline
        self.headers = {"Accept": "application/fhir+json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        self.client: httpx.Client | None = None

    def __enter__(self) -> _Client:
        if self.server:
            import httpx

            self.client = httpx.Client(headers=self.headers, follow_redirects=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()

    def get(self, key: str, query: str, record: Record) -> Any:
        return self._fetch(key, f"{self.server}/{query}", record)

    def page(self, key: str, url: str, record: Record) -> Any:
        if self.client is None:
            record.unread.append(f"{key}: more pages than the EHR sent, and no FHIR server to read them from")
            return None
        return self._fetch(key, url, record)

    def _fetch(self, key: str, url: str, record: Record) -> Any:
        import httpx

        left = self.deadline - time.monotonic()
        if left <= 0:
            record.unread.append(f"{key}: the FHIR server took longer than the time allowed")
            return None
        try:
            if self.client is None:
                record.unread.append(f"{key}: no FHIR server to read it from")
                return None
            response = self.client.get(url, timeout=left)
            response.raise_for_status()
            return response.json()
        except httpx.TimeoutException:
            record.unread.append(f"{key}: the FHIR server took longer than the time allowed")
        except httpx.HTTPStatusError as exc:
            record.unread.append(f"{key}: the FHIR server answered {exc.response.status_code}")
        except (httpx.HTTPError, ValueError) as exc:
            record.unread.append(f"{key}: the FHIR server could not be read ({type(exc).__name__})")
        return None
