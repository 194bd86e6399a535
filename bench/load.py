"""Load: concurrent chat sessions against a running app, then the same while `rag ingest` adds articles.

    python -m bench.load                      # 50 sessions x 3 questions, twice; ~5-10 min on 2 busy cores
    python -m bench.load --sessions 10 --turns 2

What it does, on loopback only, bounded in count and time, and stopping by itself:
1. copies `data/articles` into a temporary corpus folder and ingests it into a temporary RAG_DATA_DIR (an
   index cannot be reused from elsewhere: documents record their file's path, so a moved corpus re-embeds);
2. starts `python app.py` on 127.0.0.1:<free port> over that index (the real app, in its own process);
3. phase "steady": N concurrent sessions (one gradio_client each) each ask 3 questions from
   eval/datasets/kz-ru.jsonl through `/ask`, passing the conversation so far as `history`;
4. phase "during ingest": the same load, while a few synthetic articles are copied into the corpus folder and
   `rag ingest` runs in a subprocess on the same data dir (the embedded store shared by two processes);
   afterwards one more session asks about a new article, to see whether the running app can answer from it.
Per phase: requests, errors (an `{"error": ...}` reply, an exception or a timeout), refusals, p50/p95/max
latency of one `/ask` as a client sees it (queueing included: the app runs 4 at a time), throughput. Results
go to bench/results/load.json (+ history/); a markdown table is printed. Exit code 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ARTICLES,
    DATASET,
    RESULTS_DIR,
    ROOT,
    clean_env,
    free_port,
    loadavg,
    machine_info,
    machine_line,
    stop_process,
    summarize,
    wait_for_port,
)
from bench.results import now_iso, write_result

# Made-up articles for the ingest-under-load phase: unrelated to the seed corpus, each with one checkable fact.
SYNTHETIC = {
    "lundholm-ferry-strike.txt": (
        "Ferry strike in Lundholm\n\nFerry workers in Lundholm went on strike on May 9 over pay. The strike halted "
        "crossings to the island of Vessa for three days.\n\nUnion leader Petra Sand said talks with the operator "
        "would resume in June. The operator, Nordlys Lines, carries 1.2 million passengers a year.",
        "When did the Lundholm ferry workers go on strike?", "May 9"),
    "kessel-tram-line.md": (
        "# Tram line to Kessel approved\n\nThe city council of Kessel approved a new tram line on Tuesday. The line "
        "will be 14 kilometres long and is due to open in 2027.\n\nIt will cost 310 million euros, two thirds of "
        "it paid by the regional government. Construction starts next spring.",
        "How much will the Kessel tram line cost?", "310 million"),
    "ostfjell-observatory.html": (
        "<html><head><title>Observatory</title></head><body><article><h1>Ostfjell observatory reopens</h1>"
        "<p>The Ostfjell mountain observatory reopened on 2 October after a renovation that took 26 months.</p>"
        "<p>Its new telescope has a mirror 2.4 metres across, the largest in the region.</p></article></body></html>",
        "How large is the mirror of the new Ostfjell telescope?", "2.4 metres"),
}


@dataclass
class Request:
    session: int
    turn: int
    started: float  # monotonic, seconds
    seconds: float
    ok: bool
    refused: bool | None = None
    error: str | None = None


@dataclass
class Phase:
    name: str
    requests: list[Request] = field(default_factory=list)
    wall_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def stats(self, window: tuple[float, float] | None = None) -> dict[str, Any]:
        reqs = self.requests
        if window is not None:
            reqs = [r for r in reqs if r.started < window[1] and r.started + r.seconds > window[0]]
        errors = [r for r in reqs if not r.ok]
        samples: dict[str, int] = {}
        for r in errors:
            samples[r.error or "?"] = samples.get(r.error or "?", 0) + 1
        out = {
            "requests": len(reqs),
            "errors": len(errors),
            "error_samples": dict(sorted(samples.items(), key=lambda kv: -kv[1])[:5]),
            "refused": sum(bool(r.refused) for r in reqs if r.ok),
            "latency_ms": summarize([r.seconds * 1000 for r in reqs]),
        }
        if window is None:
            out["sessions"] = len({r.session for r in reqs})
            out["wall_seconds"] = round(self.wall_seconds, 2)
            out["throughput_rps"] = round(len(reqs) / self.wall_seconds, 2) if self.wall_seconds else None
        return out


def load_sessions(n_sessions: int, turns: int, seed: int) -> list[list[str]]:
    """`turns` questions per session, drawn without replacement (while the dataset lasts) with a fixed seed."""
    rows = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows]
    rng = random.Random(seed)
    pool: list[str] = []
    sessions = []
    for _ in range(n_sessions):
        picked = []
        for _ in range(turns):
            if not pool:
                pool = questions[:]
                rng.shuffle(pool)
            picked.append(pool.pop())
        sessions.append(picked)
    return sessions


def run_session(url: str, index: int, questions: Sequence[str], phase: Phase, deadline: float,
                request_timeout: float) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False)
    except Exception as exc:  # noqa: BLE001 - a session that cannot connect counts as failed requests
        now = time.monotonic()
        for turn in range(len(questions)):
            phase.add(Request(index, turn, now, 0.0, False, error=f"connect: {type(exc).__name__}"))
        return
    history: list[dict[str, str]] = []
    for turn, question in enumerate(questions):
        started = time.monotonic()
        if started > deadline:
            phase.add(Request(index, turn, started, 0.0, False, error="not sent: phase time limit"))
            continue
        try:
            job = client.submit(question, None, None, history or None, None, api_name="/ask")
            result = job.result(timeout=min(request_timeout, max(1.0, deadline - started)))
        except Exception as exc:  # noqa: BLE001 - timeouts and transport errors are results here
            phase.add(Request(index, turn, started, time.monotonic() - started, False,
                              error=f"{type(exc).__name__}: {str(exc)[:120]}"))
            history.append({"role": "user", "content": question})
            continue
        seconds = time.monotonic() - started
        if not isinstance(result, dict) or "error" in result:
            error = result.get("error") if isinstance(result, dict) else f"unexpected reply {type(result).__name__}"
            phase.add(Request(index, turn, started, seconds, False, error=str(error)[:160]))
            history.append({"role": "user", "content": question})
            continue
        phase.add(Request(index, turn, started, seconds, True, refused=bool(result.get("refused"))))
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.get("text", "")}]


def run_phase(name: str, url: str, sessions: list[list[str]], time_limit: float, request_timeout: float) -> Phase:
    phase = Phase(name)
    started = time.monotonic()
    deadline = started + time_limit
    with ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix=f"load-{name}") as pool:
        futures = [pool.submit(run_session, url, i, qs, phase, deadline, request_timeout)
                   for i, qs in enumerate(sessions)]
        for future in futures:
            future.result(timeout=time_limit + request_timeout + 60)
    phase.wall_seconds = time.monotonic() - started
    return phase


# ------------------------------------------------------------------------------------------------ set-up


def build_index(work: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    corpus = work / "articles"
    shutil.copytree(ARTICLES, corpus)
    target = work / "data"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "cli", "ingest", "--quiet"], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout, env={**env, "RAG_DATA_DIR": str(target),
                                                          "RAG_CORPUS_DIR": str(corpus)})
    if out.returncode != 0:
        raise RuntimeError(f"ingest failed: {out.stderr[-2000:]}")
    line = next((x for x in out.stdout.splitlines() if x.startswith("added")), out.stdout.strip())
    return {"corpus": str(corpus), "data_dir": str(target), "seconds": round(time.monotonic() - started, 2),
            "summary": line}


def start_app(env: dict[str, str], log_path: Path, timeout: float) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, timeout, "python app.py")
        url = f"http://127.0.0.1:{port}/"
        while time.monotonic() - started < timeout:  # listening is not serving yet: wait for the page
            try:
                if urllib.request.urlopen(url, timeout=5).status == 200:
                    return proc, url, time.monotonic() - started
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"python app.py did not serve {url} within {timeout:.0f} s")
    except BaseException:
        stop_process(proc, 20)
        raise


# ------------------------------------------------------------------------------------------------ report


def markdown(result: dict[str, Any]) -> str:
    cfg = result["config"]
    rows = [
        f"## Load: {cfg['sessions']} concurrent chat sessions x {cfg['turns']} questions via `/ask` "
        f"(`python app.py`, embedded store)",
        "",
        f"{machine_line(result['machine'])}",
        "",
        "| phase | requests | errors | refused | p50 ms | p95 ms | max ms | wall s | req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    named = [("steady", result["phases"]["steady"]), ("during ingest", result["phases"]["during_ingest"]),
             ("… overlapping the ingest", result["phases"]["during_ingest"].get("overlapping_ingest"))]
    for label, st in named:
        if not st:
            continue
        lat = st["latency_ms"]
        rows.append(f"| {label} | {st['requests']} | {st['errors']} | {st['refused']} | {lat['p50']} | {lat['p95']} | "
                    f"{lat['max']} | {st.get('wall_seconds', '')} | {st.get('throughput_rps', '')} |")
    ing = result["ingest_during_load"]
    rows += ["", f"Ingest during load: exit {ing['returncode']} in {ing['seconds']} s — {ing['summary']}",
             f"New articles answerable by the running app afterwards: {result['after_ingest']['answered']}"
             f"/{result['after_ingest']['asked']}"]
    for phase in ("steady", "during_ingest"):
        for error, count in result["phases"][phase]["error_samples"].items():
            rows.append(f"- {phase} error ×{count}: {error}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=3, help="questions per session")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase-limit", type=float, default=600, help="seconds per phase before giving up")
    parser.add_argument("--request-timeout", type=float, default=300)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 200 or not 1 <= args.turns <= 10:
        parser.error("--sessions must be 1..200 and --turns 1..10")

    machine = machine_info()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {**clean_env(), "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
    app_proc = None
    try:
        print("index: ingesting a copy of data/articles …")
        index = build_index(work, env, timeout=900)
        env.update(RAG_DATA_DIR=index["data_dir"], RAG_CORPUS_DIR=index["corpus"])
        print(f"  {index['summary']} ({index['seconds']} s)")
        app_proc, url, app_start = start_app(env, work / "app.log", timeout=180)
        print(f"app: {url} serving after {app_start:.1f} s")
        sessions = load_sessions(args.sessions, args.turns, args.seed)

        print(f"phase 1: {args.sessions} sessions x {args.turns} questions …")
        steady = run_phase("steady", url, sessions, args.phase_limit, args.request_timeout)
        print(f"  {steady.stats()['requests']} requests, {steady.stats()['errors']} errors, "
              f"{steady.wall_seconds:.1f} s")

        print(f"phase 2: the same load while `rag ingest` adds {len(SYNTHETIC)} articles …")
        for name, (text, _, _) in SYNTHETIC.items():
            (Path(index["corpus"]) / name).write_text(text, encoding="utf-8")
        rag = str(Path(sys.executable).parent / "rag")
        ingest_out = work / "ingest.log"
        ingest_info: dict[str, Any] = {}

        def run_ingest() -> None:  # starts with the load: its ~2 s of imports let the load build up
            started = time.monotonic()
            ingest_info["window"] = [started, None]
            with open(ingest_out, "w") as out:
                proc = subprocess.Popen([rag, "ingest", "--quiet"], cwd=ROOT, env=env, stdout=out,
                                        stderr=subprocess.STDOUT)
                try:
                    ingest_info["returncode"] = proc.wait(args.phase_limit)
                except subprocess.TimeoutExpired:
                    stop_process(proc)
                    ingest_info["returncode"] = "timeout"
            ingest_info["window"][1] = time.monotonic()
            ingest_info["seconds"] = round(time.monotonic() - started, 2)

        ingester = threading.Thread(target=run_ingest, name="ingest", daemon=True)
        ingester.start()
        sessions2 = load_sessions(args.sessions, args.turns, args.seed + 1)
        during = run_phase("during_ingest", url, sessions2, args.phase_limit, args.request_timeout)
        ingester.join(args.phase_limit + 60)
        log_text = ingest_out.read_text(errors="replace") if ingest_out.exists() else ""
        summary = next((x for x in log_text.splitlines() if x.startswith("added")), log_text.strip()[-300:])
        print(f"  {during.stats()['requests']} requests, {during.stats()['errors']} errors, "
              f"{during.wall_seconds:.1f} s; ingest: exit {ingest_info.get('returncode')} — {summary}")

        answered = 0
        checks = []
        from gradio_client import Client

        client = Client(url, verbose=False, download_files=False)
        for _, question, expected in SYNTHETIC.values():
            try:
                reply = client.submit(question, api_name="/ask").result(timeout=args.request_timeout)
            except Exception as exc:  # noqa: BLE001
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            good = isinstance(reply, dict) and expected in reply.get("text", "")
            answered += good
            checks.append({"question": question, "expected": expected, "ok": good,
                           "reply": (reply.get("error") or reply.get("text", ""))[:200]})

        window = ingest_info.get("window")
        during_stats = during.stats()
        if window and window[1]:
            during_stats["overlapping_ingest"] = during.stats((window[0], window[1]))
        machine["loadavg_end"] = loadavg()
        result: dict[str, Any] = {
            "created": now_iso(),
            "machine": machine,
            "config": {"sessions": args.sessions, "turns": args.turns, "seed": args.seed,
                       "dataset": str(DATASET.relative_to(ROOT)), "app_queue_concurrency": 4,
                       "phase_limit_s": args.phase_limit, "request_timeout_s": args.request_timeout},
            "index": index,
            "app_start_seconds": round(app_start, 2),
            "phases": {"steady": steady.stats(), "during_ingest": during_stats},
            "ingest_during_load": {"returncode": ingest_info.get("returncode"), "seconds": ingest_info.get("seconds"),
                                   "summary": summary, "articles": sorted(SYNTHETIC)},
            "after_ingest": {"asked": len(checks), "answered": answered, "checks": checks},
        }
        result["markdown"] = markdown(result)
        path = write_result(args.results, "load", result)
        print()
        print(result["markdown"])
        print(f"\nwritten: {path}")
        failed = steady.stats()["errors"] + during_stats["errors"]
        return 1 if failed else 0
    finally:
        if app_proc is not None:
            stop_process(app_proc, 20)
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.exit(main())
