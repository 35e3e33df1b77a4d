"""Bounded retries for keypin's AWS clients: jittered backoff, capped, inside a time budget.

botocore's standard retry mode backs off throttling errors by up to 1, 2, 4, 8 and 16
seconds, so five throttled attempts in a row could take 31 seconds: longer than Lambda's
10-second init limit. keypin keeps botocore's retry conditions (throttling, transient
and connection errors) and its full jitter, but caps each wait and stops retrying once
the call has used its time budget.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.retries import quota, standard

_STARTED = "keypin_retry_started"


@dataclass(frozen=True)
class RetryBudget:
    """How often and how long one AWS call may be retried."""

    attempts: int  # including the first
    max_backoff_seconds: float  # cap of each jittered wait
    budget_seconds: float  # no retry starts later than this after the call began


class _BudgetedConditions(standard.StandardRetryConditions):
    """botocore's standard retry conditions, plus a deadline per call."""

    def __init__(self, budget: RetryBudget) -> None:
        super().__init__(max_attempts=budget.attempts)
        self._budget = budget

    def is_retryable(self, context: Any) -> bool:
        started = context.request_context.get(_STARTED)
        if started is not None:
            next_start = time.monotonic() - started + self._budget.max_backoff_seconds
            if next_start > self._budget.budget_seconds:
                return False
        return bool(super().is_retryable(context))


def install(client: Any, budget: RetryBudget) -> None:
    """Replace the standard retry handler of `client` by one bounded by `budget`."""
    service = client.meta.service_model.service_id.hyphenize()
    unique_id = f"retry-config-{service}"  # the id botocore registers its handler under
    client.meta.events.unregister(f"needs-retry.{service}", unique_id=unique_id)

    # NOTE: built as botocore 1.44's standard.register_retry_handler builds it; its type
    # stubs lag behind (an int max_backoff, a RetryQuota where a checker is passed).
    detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
    backoff = standard.ExponentialBackoff(
        max_backoff=budget.max_backoff_seconds,  # type: ignore[arg-type]
        service_name=service,
        throttling_detector=detector,
    )
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(retry_checker=_BudgetedConditions(budget), retry_backoff=backoff),
        retry_event_adapter=standard.RetryEventAdapter(),
        retry_quota=standard.RetryQuotaChecker(quota.RetryQuota(), detector),  # type: ignore[arg-type]
        service_name=service,
    )
    client.meta.events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)
    client.meta.events.register(f"before-call.{service}", _mark_start, unique_id=f"keypin-retry-start-{service}")


def _mark_start(context: dict[str, Any], **_: Any) -> None:
    context[_STARTED] = time.monotonic()
