"""InMemoryQueue against a reference model of SQS semantics, driven by hypothesis."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from receipts.adapters.memory.queue import InMemoryQueue
from receipts.application.ports.queue import ReceiptHandleInvalid

MAX_RECEIVE_COUNT = 3
DEFAULT_VISIBILITY = 4.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Expected:
    seq: int
    visible_at: float
    receive_count: int = 0
    handle: str | None = None


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.dead_letters = InMemoryQueue("dlq", clock=self.clock)
        self.queue = InMemoryQueue(
            "jobs",
            visibility_timeout=DEFAULT_VISIBILITY,
            max_receive_count=MAX_RECEIVE_COUNT,
            dead_letter_queue=self.dead_letters,
            clock=self.clock,
        )
        self.live: dict[str, Expected] = {}
        self.sent: list[str] = []
        self.deleted: set[str] = set()
        self.dead: set[str] = set()
        self.handles: list[str] = []

    def _handle_owner(self, handle: str) -> str | None:
        return next((body for body, m in self.live.items() if m.handle == handle), None)

    @rule(delay=st.integers(0, 3))
    def send(self, delay: int) -> None:
        body = f"m{len(self.sent)}"
        self.queue.send(body, delay_seconds=delay)
        self.live[body] = Expected(seq=len(self.sent), visible_at=self.clock.now + delay)
        self.sent.append(body)

    @rule(
        max_messages=st.integers(1, 10),
        timeout=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5, 6.0])),
    )
    def receive(self, max_messages: int, timeout: float | None) -> None:
        now = self.clock.now
        in_flight = {body for body, m in self.live.items() if m.visible_at > now}
        visible = sorted(
            (body for body in self.live if body not in in_flight),
            key=lambda body: (self.live[body].visible_at, self.live[body].seq),
        )
        expected_delivered: list[tuple[str, int]] = []
        expected_dead: set[str] = set()
        for body in visible:
            if len(expected_delivered) == max_messages:
                break
            if self.live[body].receive_count >= MAX_RECEIVE_COUNT:
                expected_dead.add(body)
            else:
                expected_delivered.append((body, self.live[body].receive_count + 1))

        messages = self.queue.receive(max_messages=max_messages, visibility_timeout=timeout)

        assert [(m.body, m.receive_count) for m in messages] == expected_delivered
        assert not {m.body for m in messages} & (in_flight | self.deleted | self.dead)
        assert self._drain_dead_letters() == expected_dead
        for body in expected_dead:
            del self.live[body]
        for message in messages:
            expected = self.live[message.body]
            assert message.receipt_handle not in self.handles
            expected.receive_count = message.receive_count
            expected.handle = message.receipt_handle
            expected.visible_at = now + (DEFAULT_VISIBILITY if timeout is None else timeout)
            self.handles.append(message.receipt_handle)

    def _drain_dead_letters(self) -> set[str]:
        drained: set[str] = set()
        while letters := self.dead_letters.receive(max_messages=10):
            for letter in letters:
                assert letter.body not in drained
                drained.add(letter.body)
                self.dead_letters.delete(letter.receipt_handle)
        assert not drained & self.dead
        self.dead |= drained
        return drained

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        handle = data.draw(st.sampled_from(self.handles))
        owner = self._handle_owner(handle)
        if owner is None:
            with pytest.raises(ReceiptHandleInvalid):
                self.queue.delete(handle)
            return
        self.queue.delete(handle)
        del self.live[owner]
        self.deleted.add(owner)

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), timeout=st.sampled_from([0.0, 1.0, 5.0]))
    def change_visibility(self, data: st.DataObject, timeout: float) -> None:
        handle = data.draw(st.sampled_from(self.handles))
        owner = self._handle_owner(handle)
        if owner is None:
            with pytest.raises(ReceiptHandleInvalid):
                self.queue.change_visibility(handle, timeout)
            return
        self.queue.change_visibility(handle, timeout)
        self.live[owner].visible_at = self.clock.now + timeout

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 10.0]))
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def no_message_lost_or_duplicated(self) -> None:
        assert self.deleted.isdisjoint(self.dead)
        assert set(self.live).isdisjoint(self.deleted | self.dead)
        assert set(self.live) | self.deleted | self.dead == set(self.sent)
        assert self.queue.approximate_count() == len(self.live)

    def teardown(self) -> None:
        self.clock.advance(1_000)
        remaining: list[str] = []
        while messages := self.queue.receive(max_messages=10, visibility_timeout=60):
            remaining += [m.body for m in messages]
        newly_dead = self._drain_dead_letters()
        assert len(remaining) == len(set(remaining))
        assert set(remaining).isdisjoint(newly_dead)
        assert set(remaining) | newly_dead == set(self.live)


QueueMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_in_memory_queue_state_machine = QueueMachine.TestCase
