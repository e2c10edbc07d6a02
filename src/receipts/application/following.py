"""Process applications that follow only some topics, without rescanning the rest.

The library's follower resumes from its last *tracked* notification. With a topic
filter, notifications of other topics are never tracked, so every pull would rescan
them all (quadratic work as the leader grows). This follower also remembers how far it
has scanned: it reads the leader's head first, processes up to that head, and then
resumes from there. A notification recorded after the head was read is picked up by
the next pull, so nothing is skipped.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import LocalNotificationLog
from eventsourcing.system import ProcessApplication


class TopicFollower(ProcessApplication[UUID]):
    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self._scanned: dict[str, int] = {}

    def pull_and_process(
        self, leader_name: str, start: int | None = None, stop: int | None = None
    ) -> None:
        if start is not None or stop is not None:
            super().pull_and_process(leader_name, start, stop)
            return
        log = self.readers[leader_name].notification_log
        assert isinstance(log, LocalNotificationLog)
        head = log.recorder.max_notification_id() or 0
        tracked = self.recorder.max_tracking_id(leader_name) or 0
        begin = max(tracked, self._scanned.get(leader_name, 0))
        if head > begin:
            super().pull_and_process(leader_name, start=begin, stop=head)
        self._scanned[leader_name] = max(begin, head)
