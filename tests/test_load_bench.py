"""bench/load.py's bookkeeping (statistics, table) on made-up records, and one tiny run end to end (slow). No
latency is asserted: the figures come from `python -m bench.load`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import load


def _record(session: int, turn: int, started: float, seconds: float, ok: bool = True, **extra: object) -> dict:
    return {"session": session, "turn": turn, "started": started, "seconds": seconds, "ok": ok, **extra}


def test_phase_statistics_and_the_ingest_window() -> None:
    phase = load.Phase("steady", wall_seconds=4.0, app_cpu_seconds=0.3, client_cpu_seconds=0.02)
    phase.requests = [_record(0, 0, 100.0, 1.0, refused=False), _record(0, 1, 101.0, 2.0, refused=True),
                      _record(1, 0, 100.0, 0.5, ok=False, error="boom"), _record(1, 1, 103.0, 1.0, refused=False)]
    st = phase.stats()
    assert (st["requests"], st["errors"], st["refused"], st["sessions"]) == (4, 1, 1, 2)
    assert st["error_samples"] == {"boom": 1}
    assert st["throughput_rps"] == 1.0 and st["app_cpu_ms_per_request"] == 75.0
    assert st["client_cpu_ms_per_request"] == 5.0 and st["latency_ms"]["max"] == 2000.0
    window = phase.stats((101.5, 102.5))  # requests running at some time in the window
    assert window["requests"] == 1 and "throughput_rps" not in window


def test_sessions_are_fixed_by_the_seed() -> None:
    first = load.load_sessions(5, 3, seed=7)
    assert first == load.load_sessions(5, 3, seed=7) != load.load_sessions(5, 3, seed=8)
    assert [len(s) for s in first] == [3] * 5
    assert len({q for s in first for q in s}) == 15  # without replacement while the dataset lasts


@pytest.mark.slow
def test_tiny_run_end_to_end(tmp_path: Path) -> None:
    """Index, `python app.py`, both phases through the raw-HTTP client and the new-article check."""
    code = load.main(["--sessions", "2", "--turns", "2", "--results", str(tmp_path)])
    data = json.loads((tmp_path / "load.json").read_text(encoding="utf-8"))
    assert code == 0, data["markdown"]
    (run,) = data["apps"]
    assert run["phases"]["steady"]["requests"] == 4 and run["phases"]["steady"]["errors"] == 0
    assert run["phases"]["during_ingest"]["errors"] == 0 and run["ingest_during_load"]["returncode"] == 0
    assert run["after_ingest"]["answered"] == 3
    assert "| app (" in data["markdown"] and data["config"]["client"] == "http"
