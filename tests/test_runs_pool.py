"""The warm pool for short calls: workers in other processes, made again when resized or broken."""

from __future__ import annotations

import os
import signal

import pytest

from mtlcore.runs.pool import WarmPool, _ping


@pytest.mark.slow
def test_the_pool_runs_calls_elsewhere_and_heals() -> None:
    pool = WarmPool(preload=["json"])
    try:
        two = pool.get(2)
        pids = {f.result(timeout=60) for f in [two.submit(_ping) for _ in range(8)]}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        assert pool.get(2) is two  # shared while it works
        one = pool.get(1)
        assert one is not two
        (victim,) = {one.submit(_ping).result(timeout=60)}
        os.kill(victim, signal.SIGKILL)
        try:
            one.submit(_ping).result(timeout=60)
        except Exception:  # noqa: BLE001  the pool notices its dead worker: BrokenProcessPool
            pass
        healed = pool.get(1)
        assert healed.submit(_ping).result(timeout=60) != victim
    finally:
        pool.shutdown()
