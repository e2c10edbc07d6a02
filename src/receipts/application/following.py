"""Process applications that follow only some topics, and the runner that feeds them.

The library's follower resumes from its last *tracked* notification. With a topic
filter, notifications of other topics are never tracked, so every pull would rescan
them all (quadratic work as the leader grows). This follower also remembers how far it
has scanned: it reads the leader's head first, processes up to that head, and then
resumes from there. A notification recorded after the head was read is picked up by
the next pull, so nothing is skipped.

In one process, `FollowingRunner` hands a follower the events its leader has just
recorded, so the follower need not read them back from the leader's notification log
and rebuild them. It does so only when they are exactly the notifications that come
next after what the follower has processed or scanned (no other process recorded in
between); otherwise the follower pulls from the log as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import LocalNotificationLog
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Recording, Tracking
from eventsourcing.system import (
    Follower,
    ProcessApplication,
    RecordingEvent,
    SingleThreadedRunner,
    System,
)
from eventsourcing.utils import EnvType

from receipts.application.persistence import Collected


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

    def receive_recordings(self, leader_name: str, recordings: Sequence[Recording[UUID]]) -> None:
        """Processes events the leader has just recorded in this process.

        They are processed as they are (not rebuilt from the log) when they are the very
        next notifications; after a gap (another process recorded in between) this pulls.
        """
        if not recordings:
            return
        first = recordings[0].notification.id
        last = recordings[-1].notification.id
        scanned = self._scanned.get(leader_name, 0)
        contiguous = last - first + 1 == len(recordings)
        topics = self.topics
        if (
            contiguous
            and first == scanned + 1
            and topics
            and not any(r.notification.topic in topics for r in recordings)
        ):
            # the very next notifications, none of them followed: nothing to process
            self._scanned[leader_name] = last
            return
        tracked = self.recorder.max_tracking_id(leader_name) or 0
        position = max(tracked, scanned)
        if last <= position:
            return
        if not contiguous or first != position + 1:
            self.pull_and_process(leader_name)
            return
        for recording in recordings:
            notification = recording.notification
            if not topics or notification.topic in topics:
                self.process_event(
                    recording.domain_event,
                    Tracking(application_name=leader_name, notification_id=notification.id),
                )
            self._scanned[leader_name] = notification.id

    def process_event(self, domain_event: DomainEventProtocol[UUID], tracking: Tracking) -> None:
        # Follower.process_event, collecting with the cheap checks of `Collected`
        with self.processing_lock:
            processing_event = Collected(tracking=tracking)
            self.policy(domain_event, processing_event)
            recordings = self._record(processing_event)
            self._take_snapshots(processing_event)
            self.notify(processing_event.events)
            self._notify(recordings)


class FollowingRunner(SingleThreadedRunner[UUID]):
    """The library's single-threaded runner, handing recorded events to `TopicFollower`s.

    As the library's runner, it processes in one thread, in the order they were
    recorded, what each save records, and what processing that records in turn.
    """

    def __init__(self, system: System, env: EnvType | None = None) -> None:
        super().__init__(system, env)
        self._received: list[RecordingEvent[UUID]] = []

    def receive_recording_event(self, new_recording_event: RecordingEvent[UUID]) -> None:
        with self._prompted_names_lock:
            self._received.append(new_recording_event)
        if not self._processing_lock.acquire(blocking=False):
            return  # the call that holds the lock processes it
        try:
            while True:
                with self._prompted_names_lock:
                    received, self._received = self._received, []
                if not received:
                    break
                for recording_event in received:
                    leader_name = recording_event.application_name
                    for follower_name in self.system.leads[leader_name]:
                        follower = self.apps[follower_name]
                        if isinstance(follower, TopicFollower):
                            follower.receive_recordings(leader_name, recording_event.recordings)
                        else:
                            assert isinstance(follower, Follower)
                            follower.pull_and_process(leader_name)
        finally:
            self._processing_lock.release()
