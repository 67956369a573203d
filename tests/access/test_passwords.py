import json

import pytest

from recovery_model.access import (
    AccessConfigError,
    AuditLog,
    SignIn,
    TooManyAttempts,
    Users,
    hash_password,
    pages_for,
    verify_audit_log,
)
from recovery_model.errors import RecoveryError
from tests.access import Clock


@pytest.fixture(scope="module")
def users():
    return Users.from_secrets({
        "alice": {"password_hash": hash_password("correct horse"), "role": "clinician"},
        "bob": {"password_hash": hash_password("battery staple"), "role": "bed_manager"},
    })


def test_passwords_are_stored_only_as_argon2_hashes():
    stored = hash_password("secret")
    assert stored.startswith("$argon2id$") and "secret" not in stored
    assert hash_password("secret") != stored  # salted
    with pytest.raises(AccessConfigError, match="hash-password"):
        Users.from_secrets({"eve": {"password_hash": "secret", "role": "admin"}})


def test_roles_decide_pages():
    assert pages_for("clinician") == {"patient"}
    assert pages_for("bed_manager") == {"ward"}
    assert pages_for("analyst") == {"model", "monitoring"}
    assert pages_for("admin") == {"patient", "ward", "model", "monitoring"}
    assert pages_for("stranger") == frozenset()
    with pytest.raises(AccessConfigError, match="role 'doctor'"):
        Users.from_secrets({"x": {"password_hash": hash_password("p"), "role": "doctor"}})


def test_no_configuration_means_open_mode():
    assert Users.from_secrets(None) is None and Users.from_secrets({}) is None


def test_sign_in(users):
    service = SignIn(users)
    assert service.attempt("alice", "correct horse").role == "clinician"
    assert service.attempt("alice", "wrong") is None
    assert service.attempt("mallory", "anything") is None


def test_repeated_failures_are_slowed_down(users):
    clock = Clock()
    service = SignIn(users, clock=clock)
    for _ in range(3):
        assert service.attempt("bob", "guess") is None
    with pytest.raises(TooManyAttempts) as waited:
        service.attempt("bob", "battery staple")  # even the right password waits
    assert waited.value.wait == pytest.approx(2)
    clock.now += 2.5
    assert service.attempt("bob", "guess") is None
    assert service.wait_seconds("bob") == pytest.approx(4)  # doubles with every further failure
    clock.now += 4.5
    assert service.attempt("bob", "battery staple").name == "bob"
    assert service.wait_seconds("bob") == 0


def test_audit_log_is_append_only_and_chained(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record("sign_in", user="alice", role="clinician", outcome="ok")
    log.record("upload_ward", user="alice", rows=48, scored=47, rejected=1, file_sha256="ab" * 32)
    assert verify_audit_log(path) == 2
    lines = path.read_text().splitlines()
    edited = json.loads(lines[0]) | {"user": "mallory"}
    path.write_text(json.dumps(edited, sort_keys=True) + "\n" + lines[1] + "\n")
    with pytest.raises(RecoveryError, match="edited"):
        verify_audit_log(path)


def test_audit_log_refuses_patient_fields(tmp_path):
    with pytest.raises(ValueError, match="no patient data"):
        AuditLog(tmp_path / "a.jsonl").record("score_patient", user="a", oxygen_level=87)
    with pytest.raises(ValueError, match="no patient data"):
        AuditLog(tmp_path / "a.jsonl").record("upload_ward", patient_id="P1")
