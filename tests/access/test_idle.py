import pytest

from recovery_model.access import AccessConfigError, Activity, IdleClock, idle_minutes


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_sign_in_expires_after_the_idle_minutes_and_stays_expired_until_made_anew():
    clock = Clock()
    idle = IdleClock(15, clock)
    assert idle.touch("a") is Activity.NEW
    clock.now = 14 * 60
    assert idle.touch("a") is Activity.ACTIVE  # each interaction restarts the count
    clock.now += 15 * 60
    assert idle.touch("a") is Activity.ACTIVE
    clock.now += 15 * 60 + 1
    assert idle.touch("a") is Activity.TIMED_OUT
    assert idle.touch("a") is Activity.EXPIRED  # a reload cannot revive it
    assert idle.touch("b") is Activity.NEW  # another sign-in is not affected
    idle.forget("a")
    assert idle.touch("a") is Activity.NEW


def test_idle_minutes_default_and_checked():
    assert idle_minutes(None) == 15 and idle_minutes({"idle_minutes": 0.5}) == 0.5
    for bad in (0, -1, "15", True, 10_000):
        with pytest.raises(AccessConfigError, match=r"\[recovery_session\] idle_minutes"):
            idle_minutes({"idle_minutes": bad})
