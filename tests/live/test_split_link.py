"""The split server's link in isolation: frames survive any chunking, the read barrier holds answers.

The end-to-end checks are in test_live_split.py; these pin the two properties they rest on,
each with an input under which a broken link would fail: a frame cut anywhere by the socket still
arrives whole and in order, and an answer waits until *every* serving worker has applied the
commit (with a barrier on the slowest worker removed, the first assertion of the barrier test fails).
"""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from flagship.mechanisms import ActionRejected, StoreUnavailableError, TrialEndedError
from flagship.sandbox._live._link import FrameProtocol, decode_error, error_data, frame
from flagship.sandbox._live._split import WorkerLink, _Worker

_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20),
                     lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)
_MESSAGES = st.lists(st.fixed_dictionaries({"op": st.sampled_from(["submit", "commit", "state"]),
                                            "body": _JSON}), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(messages=_MESSAGES, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10))
def test_frames_arrive_whole_and_in_order_however_the_stream_is_cut(messages: list[dict[str, Any]],
                                                                     cuts: list[int]) -> None:
    async def main() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        protocol = FrameProtocol(received.append)
        data = b"".join(frame(message) for message in messages)
        points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
        for start, end in itertools.pairwise(points):
            protocol.data_received(data[start:end])
        return received

    assert asyncio.run(main()) == messages


def test_the_read_barrier_holds_an_answer_until_every_serving_worker_applied_the_commit() -> None:
    async def main() -> None:
        link = WorkerLink(SimpleNamespace(followers=[]))  # type: ignore[arg-type]
        fast, slow, starting = _Worker(link), _Worker(link), _Worker(link)
        fast.applied, slow.applied, starting.applied = 5, 3, -1  # -1: still bootstrapping, not serving
        link.workers = [fast, slow, starting]
        answered: list[int] = []
        link.when_settled(4, lambda: answered.append(4))
        link.when_settled(3, lambda: answered.append(3))
        assert answered == [3]  # entry 4 is not on the slow worker yet: its reader could miss it
        link.received_from(slow)({"op": "applied", "size": 4})
        assert answered == [3, 4]
        link.when_settled(6, lambda: answered.append(6))
        link.left(fast)  # a worker that left holds nothing back...
        assert answered == [3, 4]  # ...but the slow one still lacks entry 6
        link.received_from(slow)({"op": "applied", "size": 6})
        assert answered == [3, 4, 6]

    asyncio.run(main())


def test_refusals_cross_the_link_as_what_they_were() -> None:
    for error in (StoreUnavailableError("later", retry_after=2.5), TrialEndedError("over"),
                  ActionRejected("SELF_TRADE", "own order", status=409), KeyError("a bug")):
        again = decode_error(error_data(error))
        if isinstance(error, KeyError):  # not one of the writer's refusals: a contract failure, named
            assert type(again).__name__ == "ContractError" and "KeyError" in str(again)
            continue
        assert type(again) is type(error) and str(again) == str(error)
        assert getattr(again, "retry_after", None) == getattr(error, "retry_after", None)
        assert getattr(again, "status", None) == getattr(error, "status", None)


def test_the_asking_worker_is_not_waited_for_its_answer_follows_the_commit_on_its_own_link() -> None:
    async def main() -> None:
        link = WorkerLink(SimpleNamespace(followers=[]))  # type: ignore[arg-type]
        asking, other = _Worker(link), _Worker(link)
        wires = {asking: _Transport(), other: _Transport()}
        for worker, wire in wires.items():
            worker.connection_made(wire)  # type: ignore[arg-type]
        asking.applied, other.applied = 3, 5
        link.workers = [asking, other]
        answered: list[str] = []
        link.when_settled(4, lambda: answered.append("to asking"), asking)  # the other holds entry 4
        link.when_settled(4, lambda: answered.append("to other"), other)  # the asking one does not yet
        assert answered == ["to asking"]
        for _ in range(4):
            await asyncio.sleep(0)
        # only the replica an answer waits for is asked what it applied (a lone worker never is)
        assert wires[asking].writes == [frame({"op": "report"})] and wires[other].writes == []
        link.received_from(asking)({"op": "applied", "size": 4})
        assert answered == ["to asking", "to other"]

    asyncio.run(main())


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False


def test_a_batch_commit_frame_and_its_answers_leave_in_one_write_answers_last() -> None:
    async def main() -> list[dict[str, Any]]:
        link = WorkerLink(SimpleNamespace(followers=[]))  # type: ignore[arg-type]
        worker = _Worker(link)
        transport = _Transport()
        worker.connection_made(transport)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        # as the engine does: the commit frame first, then the batch's futures resolve and their
        # callbacks (the answers) run at the next turn of the loop
        worker.send_frame(frame({"op": "commit", "entries": [[7]]}))
        loop.call_soon(worker.answer, [1, "first"])
        loop.call_soon(worker.answer, [2, None, {"class": "TrialEndedError"}])
        for _ in range(4):
            await asyncio.sleep(0)
        assert len(transport.writes) == 1
        received: list[dict[str, Any]] = []
        FrameProtocol(received.append).data_received(transport.writes[0])
        return received

    assert asyncio.run(main()) == [
        {"op": "commit", "entries": [[7]]},
        {"op": "results", "answers": [[1, "first"], [2, None, {"class": "TrialEndedError"}]]}]
