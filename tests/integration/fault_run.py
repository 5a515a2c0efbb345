"""`python -m tests.integration.fault_run ARGS...`: the `assay` command (`assay.orchestration.cli.main`
with ARGS), stopped dead in the middle of writing one lake table, for the fault-injection tests.

`ASSAY_FAULT_TABLE=<table>[/<partition folder>]` names the write: once its staged file holds
part of the data (a streamed partition: its first piece, without the Parquet footer; a
whole-table write: the first half of its bytes), the process touches `ASSAY_FAULT_MARK` and
waits there for the test to kill its process group. Nothing else changes: every other write,
and all of the command, run as `assay` would.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _matches(target: Path) -> bool:
    table, _, partition = os.environ["ASSAY_FAULT_TABLE"].partition("/")
    return target.parent.parent.name == table and (not partition or target.parent.name == partition)


def _stop_here() -> None:
    Path(os.environ["ASSAY_FAULT_MARK"]).write_text(str(os.getpid()))
    while True:  # until killed
        time.sleep(60)


def install() -> None:
    import assay.lake as lake

    write_whole = lake._atomic_write_parquet

    def write_half_then_stop(data, target, staged):
        if not _matches(target):
            return write_whole(data, target, staged)
        lake.pq.write_table(data, staged, compression="zstd")
        with staged.open("r+b") as handle:
            handle.truncate(max(4, staged.stat().st_size // 2))
        _stop_here()

    write_piece = lake.PartitionWriter.write

    def write_piece_then_stop(self, data):
        write_piece(self, data)
        if _matches(self.path):
            _stop_here()

    lake._atomic_write_parquet = write_half_then_stop
    lake.PartitionWriter.write = write_piece_then_stop


if __name__ == "__main__":
    if os.environ.get("ASSAY_FAULT_TABLE"):
        install()
    from assay.orchestration.cli import main

    sys.exit(main(sys.argv[1:]))
