"""Backoff (one formula, per-mode budgets) and rate-limit pacing are pure policies."""

from docusign_input.retry import (
    FOLLOW_BACKOFF,
    RUN_BACKOFF,
    SCHEDULED_BACKOFF,
    Backoff,
    RateInfo,
    backoff_s,
    pacing_delay_s,
)


def test_jitter_stays_between_half_the_exponential_ceiling_and_the_ceiling():
    policy = Backoff(base_s=1, cap_s=8, max_retries=3)
    assert [policy.delay_s(n, lambda: 1.0) for n in range(6)] == [1, 2, 4, 8, 8, 8]
    assert [policy.delay_s(n, lambda: 0.0) for n in range(5)] == [0.5, 1, 2, 4, 4]
    assert policy.delay_s(5, lambda: 0.5) == 6.0


def test_every_mode_uses_the_one_formula():
    for policy in (RUN_BACKOFF, FOLLOW_BACKOFF, SCHEDULED_BACKOFF):
        for attempt in range(8):
            expected = backoff_s(attempt, base_s=policy.base_s, cap_s=policy.cap_s, jitter=0.3)
            assert policy.delay_s(attempt, lambda: 0.3) == expected
    assert [SCHEDULED_BACKOFF.delay_s(n, lambda: 1.0) for n in range(6)] == [
        60,
        120,
        240,
        480,
        900,
        900,
    ]


def test_server_hint_within_the_run_budget_is_honoured():
    assert RUN_BACKOFF.delay_s(0, lambda: 0.5, server_hint_s=30) == 30
    assert not RUN_BACKOFF.hint_beyond_budget(30)


def test_server_hint_beyond_the_run_budget_is_not_slept_through():
    """A scheduled run used to accept 900 s per retry (75 minutes before exit 75)."""
    assert RUN_BACKOFF.hint_beyond_budget(RUN_BACKOFF.max_hint_s + 1)
    assert RUN_BACKOFF.max_hint_s <= 60
    assert not FOLLOW_BACKOFF.hint_beyond_budget(1800)


def test_run_gives_up_follow_never_does():
    assert RUN_BACKOFF.gives_up(RUN_BACKOFF.max_retries)
    assert not FOLLOW_BACKOFF.gives_up(10_000)
    assert FOLLOW_BACKOFF.delay_s(50, lambda: 1.0) == 900


def test_pacing_spreads_remaining_allowance_until_reset():
    rate = RateInfo.from_headers(
        {"X-RateLimit-Limit": "3000", "X-RateLimit-Remaining": "100", "X-RateLimit-Reset": "1200"},
        now_s=200,
    )
    assert pacing_delay_s(rate, now_epoch_s=200) == 10.0
    plenty = RateInfo.from_headers(
        {"X-RateLimit-Limit": "3000", "X-RateLimit-Remaining": "2000"}, now_s=0
    )
    assert pacing_delay_s(plenty, 0) == 0


def test_pacing_slows_down_when_burst_allowance_runs_low():
    rate = RateInfo.from_headers(
        {"X-BurstLimit-Limit": "200", "X-BurstLimit-Remaining": "5"}, now_s=0
    )
    assert pacing_delay_s(rate, 0) == 6.0
    assert pacing_delay_s(RateInfo(), 0) == 0


def test_a_429_without_retry_after_waits_the_burst_window_for_a_burst_limit():
    """It used to fall back to the hourly X-RateLimit-Reset, also for a burst limit."""
    import time

    from docusign_input.stream import _wait_hint_s

    reset = str(int(time.time()) + 3000)
    burst = {
        "X-RateLimit-Limit": "3000",
        "X-RateLimit-Remaining": "2500",
        "X-RateLimit-Reset": reset,
        "X-BurstLimit-Limit": "200",
        "X-BurstLimit-Remaining": "0",
    }
    assert _wait_hint_s(burst) == 30.0
    hourly = {**burst, "X-RateLimit-Remaining": "0"}
    assert 2990 < (_wait_hint_s(hourly) or 0) <= 3000
    assert _wait_hint_s({**burst, "Retry-After": "7"}) == 7.0
    assert _wait_hint_s({}) is None


def test_tls_to_a_plain_port_is_told_apart_from_a_failed_verification():
    from docusign_input.errors import TlsFailure

    mismatch = TlsFailure.describe("[SSL: WRONG_VERSION_NUMBER] wrong version number", "X", "fix")
    assert "did not answer with TLS" in mismatch.line() and "verification" not in mismatch.line()
    failed = TlsFailure.describe(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
        "X",
        "point REQUESTS_CA_BUNDLE at it",
    )
    assert "verification failed" in failed.line()
