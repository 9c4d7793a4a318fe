"""The status page's login throttle: which addresses it forgets first when it tracks too many."""

from handlers.login_throttle import FAILURES_ALLOWED, MAX_TRACKED, WINDOW_SECONDS, LoginThrottle


def test_an_address_whose_window_began_again_is_forgotten_last_not_first():
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    throttle.failed("guesser")  # seen first
    for n in range(MAX_TRACKED - 1):
        throttle.failed(f"10.0.{n // 250}.{n % 250}")
    now[0] = WINDOW_SECONDS + 1  # the guesser's new window: the newest of all
    for _ in range(FAILURES_ALLOWED):
        throttle.failed("guesser")
    throttle.failed("203.0.113.9")  # one address too many: the oldest tenth of the windows goes
    assert throttle.wait_seconds("guesser") > 0  # still blocked
    assert throttle.wait_seconds("10.0.0.0") == 0 and throttle.failed("10.0.0.0") == 1  # forgotten
