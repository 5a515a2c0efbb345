"""assay.llm.event_loops: the collection batch calls make at the end of each loop."""

from __future__ import annotations

import gc
import weakref

from assay.llm import event_loops


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def _answer() -> int:
    return 42


def test_collecting_freezes_what_is_alive_once_and_still_collects_new_cycles(monkeypatch):
    monkeypatch.setattr(event_loops, "_frozen", False)
    before = gc.get_freeze_count()
    kept = _Cycle()
    assert event_loops.run_to_end(_answer(), collect_garbage=True) == 42
    frozen = gc.get_freeze_count()
    assert frozen > before  # what was alive then (this test's cycle too) is no longer walked
    dropped = _Cycle()
    gone = weakref.ref(dropped)
    del dropped
    assert gone() is not None  # a cycle: only a collection frees it
    assert event_loops.run_to_end(_answer(), collect_garbage=True) == 42
    assert gone() is None  # made after the freeze: collected as before
    assert gc.get_freeze_count() <= frozen  # frozen once, not again
    assert kept.me is kept
