"""The JobLease aggregate: renewals, expiry, the checkpoint it keeps, stale attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.errors import StaleAttempt
from receipts.domain.job_lease import JobLease

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_renewal_holds_the_lease_until_its_expiry_for_its_attempt_only() -> None:
    lease = JobLease(job_id=uuid4())
    lease.renew(1, "node:1", T0, 60)

    assert lease.expires_at == T0 + timedelta(seconds=60)
    assert lease.live(1, T0 + timedelta(seconds=59))
    assert not lease.live(1, T0 + timedelta(seconds=60))
    assert not lease.live(2, T0)
    assert [type(e) for e in lease.collect_events()] == [JobLease.Created, JobLease.Renewed]


def test_a_checkpoint_is_kept_within_its_attempt_and_not_carried_into_the_next() -> None:
    lease = JobLease(job_id=uuid4())
    lease.renew(1, "node:1", T0, 60, "file:///runs/a/checkpoint-10/")
    lease.renew(1, "node:1", T0, 60)
    kept = lease.checkpoint_uri
    lease.renew(2, "node:2", T0, 60)

    assert kept == "file:///runs/a/checkpoint-10/"
    assert lease.checkpoint_uri is None


def test_an_older_attempt_cannot_renew() -> None:
    job_id = uuid4()
    lease = JobLease(job_id=job_id)
    lease.renew(2, "node:2", T0, 60)
    lease.collect_events()

    with pytest.raises(
        StaleAttempt,
        match="cannot renew the lease of attempt 1",
    ):
        lease.renew(1, "node:1", T0, 60)
    assert lease.collect_events() == []
    assert lease.id == JobLease.id_for(job_id)


@given(st.lists(st.tuples(st.integers(1, 4), st.floats(0, 1e4), st.booleans()), max_size=20))
def test_replaying_the_renewals_rebuilds_the_lease(
    renewals: list[tuple[int, float, bool]],
) -> None:
    lease = JobLease(job_id=uuid4())
    for attempt, offset, checkpoint in renewals:
        moment = T0 + timedelta(seconds=offset)
        uri = f"memory://r/{attempt}-{offset}/" if checkpoint else None
        try:
            lease.renew(attempt, "h", moment, 30, uri)
        except StaleAttempt:
            assert attempt < lease.attempt

    replayed = None
    for event in lease.collect_events():
        replayed = event.mutate(replayed)

    assert replayed is not None
    assert vars(replayed) == vars(lease)
