"""Publishing a benchmark run: `<name>.json` (plus a timestamped copy under `history/`), the plot, and the
results folder's `README.md`, which gathers each set's latest markdown table; and `fmt`/`verdict`, the cell
formatting those tables share.

Nothing here measures anything or lays out a table: each set renders its own (`bench.quick_report`,
`bench.scale_report`, `bench.load`) and hands the text in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

from bench.common import loadavg, machine_info


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def publish(
    results_dir: Path, name: str, result: dict[str, Any], plot: Any, plot_file: str, render: Any
) -> dict[str, Any]:
    """End a run: stamp its end time and load, draw `plot` into `plot_file`, `render` its table, write it all."""
    result["created"] = now_iso()
    result["machine"]["loadavg_end"] = loadavg()
    results_dir.mkdir(parents=True, exist_ok=True)
    result["plot"] = str(plot(result, results_dir / plot_file))
    result["markdown"] = render(result)
    write_result(results_dir, name, result)
    return result


def write_result(results_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    """Write `<name>.json` (and keep a timestamped copy), then refresh the markdown summary."""
    results_dir.mkdir(parents=True, exist_ok=True)
    payload.setdefault("machine", machine_info())
    payload["machine"].setdefault("loadavg_end", loadavg())
    payload.setdefault("created", now_iso())
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    path = results_dir / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    stamp = payload["created"].replace(":", "").replace("-", "")[:15]
    (results_dir / "history").mkdir(exist_ok=True)
    (results_dir / "history" / f"{name}-{stamp}.json").write_text(text, encoding="utf-8")
    update_readme(results_dir)
    return path


def update_readme(results_dir: Path) -> Path:
    """`README.md` in the results folder: each benchmark's latest markdown table with its machine line."""
    parts = ["# Benchmark results (latest run of each set)", ""]
    known = ["quick", "scale"]
    names = [n for n in known if (results_dir / f"{n}.json").exists()]
    names += sorted(p.stem for p in results_dir.glob("*.json") if p.stem not in known)
    for name in names:
        path = results_dir / f"{name}.json"
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("markdown"):
                parts += [data["markdown"], ""]
    out = results_dir / "README.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------------ table cells


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "–"
    return "met" if value <= target else "**missed**"
