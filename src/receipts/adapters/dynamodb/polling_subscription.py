"""A subscription to an application's notifications by polling (DynamoDB has no LISTEN)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from eventsourcing.persistence import ApplicationRecorder, Notification, Subscription


class PollingSubscription(Subscription[ApplicationRecorder]):
    """Yields new notifications as they are recorded, polling (DynamoDB has no LISTEN)."""

    poll_interval = 0.2

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._buffer: list[Notification] = []

    def __next__(self) -> Notification:
        while not self._buffer or self._has_been_stopped:
            if self._has_been_stopped:
                raise StopIteration
            batch = self._recorder.select_notifications(
                start=self._last_notification_id or 0,
                limit=500,
                topics=self._topics,
                inclusive_of_start=False,
            )
            if batch:
                self._buffer = list(batch)
                self._last_notification_id = batch[-1].id
            else:
                time.sleep(self.poll_interval)
        return self._buffer.pop(0)
