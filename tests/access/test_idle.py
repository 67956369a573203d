import pytest

from recovery_model.access import Activity, IdleClock, session_settings
from recovery_model.errors import AccessConfigError
from tests.access import Clock


def test_a_sign_in_expires_after_the_idle_minutes_and_stays_expired_until_made_anew():
    clock = Clock()
    idle = IdleClock(clock)
    assert idle.touch("a", 15) is Activity.NEW
    clock.now += 14 * 60
    assert idle.touch("a", 15) is Activity.ACTIVE  # each interaction restarts the count
    clock.now += 15 * 60
    assert idle.touch("a", 15) is Activity.ACTIVE
    clock.now += 15 * 60 + 1
    assert idle.touch("a", 15) is Activity.TIMED_OUT
    assert idle.touch("a", 15) is Activity.EXPIRED  # a reload cannot revive it
    assert idle.touch("b", 15) is Activity.NEW  # another sign-in is not affected


def test_signing_out_ends_the_sign_in_in_every_tab_that_holds_it():
    idle = IdleClock(Clock())
    idle.touch("a", 15)
    idle.end("a")
    assert idle.touch("a", 15) is Activity.ENDED  # another tab, same cookie: signed out too, never NEW again
    assert idle.touch("a2", 15) is Activity.NEW  # the next sign-in is a new key


def test_after_a_restart_a_sign_in_counts_from_when_it_was_made():
    clock = Clock()
    made = clock.now
    clock.now += 20 * 60
    assert IdleClock(clock).touch("a", 15, issued_at=made) is Activity.TIMED_OUT  # unseen, but 20 min old
    assert IdleClock(clock).touch("b", 30, issued_at=made) is Activity.NEW


def test_a_provider_sign_in_older_than_the_maximum_age_is_made_again_however_active():
    clock = Clock()
    idle, made = IdleClock(clock), clock.now
    for _ in range(12 * 6):
        assert idle.touch("a", 15, issued_at=made, max_hours=12) in (Activity.NEW, Activity.ACTIVE)
        clock.now += 10 * 60
    clock.now += 60
    assert idle.touch("a", 15, issued_at=made, max_hours=12) is Activity.TIMED_OUT


def test_session_settings_default_and_checked():
    assert session_settings(None) == (15, 12) and session_settings({"idle_minutes": 0.5, "max_hours": 8}) == (0.5, 8)
    for bad in (0, -1, "15", True, 10_000):
        with pytest.raises(AccessConfigError, match=r"\[recovery_session\] idle_minutes"):
            session_settings({"idle_minutes": bad})
    with pytest.raises(AccessConfigError, match=r"\[recovery_session\] must be a table"):
        session_settings(15)
