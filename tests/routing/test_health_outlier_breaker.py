from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from comox.config.routing import BreakerConfig, OutlierConfig
from comox.routing.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from comox.routing.health import HealthState
from comox.routing.outlier import OutlierDetector


def test_health_needs_n_failures_to_go_down_and_m_successes_to_come_back():
    state = HealthState(unhealthy_threshold=2, healthy_threshold=3)
    assert not state.record(False) and state.healthy
    assert state.record(False) and not state.healthy
    assert not state.record(True) and not state.record(True)
    assert state.record(True) and state.healthy


def test_a_good_probe_resets_the_failure_streak():
    state = HealthState(unhealthy_threshold=2, healthy_threshold=1)
    state.record(False)
    state.record(True)
    assert not state.record(False) and state.healthy


def test_outlier_ejection_grows_with_each_ejection_and_is_capped():
    detector = OutlierDetector(OutlierConfig(consecutive_failures=2, base_ejection=1.0, max_ejection=2.5))
    assert not detector.record(False, 0.0)
    assert detector.record(False, 0.0)
    assert detector.ejected(0.9) and not detector.ejected(1.0)
    detector.record(False, 1.0)
    assert detector.record(False, 1.0)
    assert detector.ejected(2.9) and not detector.ejected(3.0)  # twice as long
    detector.record(False, 3.0)
    detector.record(False, 3.0)
    assert detector.ejected(5.4) and not detector.ejected(5.5)  # capped at 2.5 s


def test_success_resets_the_consecutive_count_and_uneject_ends_ejection():
    detector = OutlierDetector(OutlierConfig(consecutive_failures=2))
    detector.record(False, 0.0)
    detector.record(True, 0.0)
    assert not detector.record(False, 0.0)
    detector.record(False, 0.0)
    assert detector.ejected(0.1)
    detector.uneject()
    assert not detector.ejected(0.1)


def breaker() -> Breaker:
    return Breaker(
        BreakerConfig(window=10, min_requests=4, failure_ratio=0.5, open_for=5.0, half_open_trials=2)
    )


def test_breaker_opens_on_the_failure_ratio_only_after_min_requests():
    b = breaker()
    for ok in (False, False, False):
        b.record(ok, 0.0)
    assert b.state == CLOSED
    b.record(True, 0.0)
    assert b.state == OPEN
    assert not b.can_try(4.9) and not b.allow(4.9)


def test_half_open_allows_limited_trials_and_closes_when_they_pass():
    b = breaker()
    for _ in range(4):
        b.record(False, 0.0)
    assert b.allow(5.0) and b.state == HALF_OPEN
    assert b.allow(5.0)
    assert not b.allow(5.0)  # two trials at once at most
    b.record(True, 5.1)
    b.record(True, 5.2)
    assert b.state == CLOSED


def test_a_failed_trial_opens_the_breaker_again():
    b = breaker()
    for _ in range(4):
        b.record(False, 0.0)
    b.allow(5.0)
    b.record(False, 5.5)
    assert b.state == OPEN and not b.can_try(10.4) and b.can_try(10.5)


@settings(max_examples=300, deadline=None)
@given(
    outcomes=st.lists(st.booleans(), max_size=200),
    window=st.integers(2, 12),
    min_requests=st.integers(1, 12),
    ratio=st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]),
)
def test_the_breaker_opens_exactly_when_a_sliding_window_of_outcomes_says_so(
    outcomes, window, min_requests, ratio
):
    """The breaker keeps only the failures' positions; it must open on the same outcome as a
    plain window of the last `window` outcomes would (and start afresh after opening)."""
    config = BreakerConfig(window=window, min_requests=min_requests, failure_ratio=ratio, open_for=1e9)
    breaker = Breaker(config)
    reference: deque[bool] = deque(maxlen=window)
    for i, ok in enumerate(outcomes):
        breaker.record(ok, float(i))
        reference.append(ok)
        should_open = len(reference) >= min_requests and reference.count(False) >= ratio * len(reference)
        assert (breaker.state == OPEN) == should_open, (i, list(reference))
        if should_open:  # a closed breaker again, as after its trials passed
            breaker.state = CLOSED
            breaker.seen = 0
            breaker.failed_at.clear()
            reference.clear()
