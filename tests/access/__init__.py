class Clock:
    """A clock the test moves by hand (seconds, as time.time and time.monotonic count)."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now
