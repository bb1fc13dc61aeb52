"""FrozenHeap: what a long-running server freezes is never rescanned; what it drops is reclaimed."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flagship.sandbox._gc import FrozenHeap, no_collection, quiet_gc

REPO = Path(__file__).resolve().parents[2]


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def heap() -> Iterator[tuple[FrozenHeap, Clock]]:
    clock = Clock()
    frozen = FrozenHeap(1.0, clock=clock)
    try:
        yield frozen, clock
    finally:
        frozen.thaw()


def test_freezing_moves_survivors_out_of_every_collection(heap: tuple[FrozenHeap, Clock]) -> None:
    frozen, _ = heap
    kept = [cycle() for _ in range(100)]
    frozen.freeze()
    assert frozen.active and gc.get_freeze_count() > 0
    assert all(gc.is_tracked(node) for node in kept)
    tracked = {id(obj) for obj in gc.get_objects()}  # get_objects() skips the permanent generation
    assert not any(id(node) in tracked for node in kept)


def test_tick_refreezes_only_after_the_interval(heap: tuple[FrozenHeap, Clock]) -> None:
    frozen, clock = heap
    frozen.tick()
    assert not frozen.active  # before the first freeze, tick does nothing
    frozen.freeze()
    count = gc.get_freeze_count()
    kept = [cycle() for _ in range(50)]
    clock.now = 0.5
    frozen.tick()
    assert gc.get_freeze_count() == count
    clock.now = 1.0
    frozen.tick()
    assert gc.get_freeze_count() >= count + len(kept) * 2


def test_cyclic_garbage_made_after_a_freeze_is_reclaimed_by_the_next(heap: tuple[FrozenHeap, Clock]) -> None:
    frozen, clock = heap
    frozen.freeze()
    dropped = weakref.ref(cycle())
    assert dropped() is not None  # a cycle: reference counting alone does not free it
    clock.now = 1.0
    frozen.tick()
    assert dropped() is None


def test_frozen_cyclic_garbage_waits_for_thaw(heap: tuple[FrozenHeap, Clock]) -> None:
    frozen, _ = heap
    node = cycle()
    frozen.freeze()
    dropped = weakref.ref(node)
    del node
    gc.collect()
    assert dropped() is not None  # frozen: no collection looks at it
    frozen.thaw()
    assert not frozen.active and gc.get_freeze_count() == 0
    gc.collect()
    assert dropped() is None


# The collector's thresholds and frozen generation are process-wide: a run still going on another
# thread of this pytest process (a sweep's executor winding down) holds its quiet block open, and
# rightly keeps the collector quiet. The quiet_gc tests therefore run in a fresh interpreter.
def _in_a_fresh_interpreter(body: Callable[[], None]) -> None:
    code = f"import tests.core.test_gc as module; module.{body.__name__}()"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_quiet_gc_restores_the_thresholds_and_unfreezes() -> None:
    _in_a_fresh_interpreter(_restores_the_thresholds_and_unfreezes)


def test_a_nested_quiet_gc_leaves_the_outer_block_quiet() -> None:
    _in_a_fresh_interpreter(_nested_blocks)


def test_overlapping_quiet_gc_blocks_on_threads_restore_once_the_last_ends() -> None:
    _in_a_fresh_interpreter(_overlapping_blocks)


def _restores_the_thresholds_and_unfreezes() -> None:
    before = gc.get_threshold()
    with quiet_gc():
        assert gc.get_threshold() != before
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def _nested_blocks() -> None:
    before = gc.get_threshold()
    with quiet_gc():
        quiet = gc.get_threshold()
        with quiet_gc():
            pass
        # Without the depth count the inner exit restored the defaults mid-run.
        assert gc.get_threshold() == quiet != before and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def _overlapping_blocks() -> None:
    before = gc.get_threshold()
    first_in, second_out, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[tuple[int, int, int], int]] = []

    def first() -> None:
        with quiet_gc():
            first_in.set()
            second_out.wait(10)
            # the other thread's block has ended; this one has not: still frozen and quiet
            seen.append((gc.get_threshold(), gc.get_freeze_count()))
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with quiet_gc():
            pass
        second_out.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert first_out.is_set() and seen
    thresholds, frozen = seen[0]
    assert thresholds != before and frozen > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_no_collection_pauses_automatic_collection_and_restores_it() -> None:
    assert gc.isenabled()
    with no_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with no_collection():
            pass
        assert not gc.isenabled()  # it restores what it found
    finally:
        gc.enable()
