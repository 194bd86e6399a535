"""Load: concurrent chat sessions against a running app, then the same while `rag ingest` adds articles.

    python -m bench.load                         # 50 sessions x 3 questions, twice; ~1-2 min on 2 cores
    python -m bench.load --compare HEAD          # the same against the app at a commit too: before/after, one run
    python -m bench.load --compare-queue         # … or against this app with the queue settings before issue 14
    python -m bench.load --client gradio         # the sessions as gradio_client Clients (a costly client)
    python -m bench.load --sessions 10 --turns 2 --results /tmp/load

What it does, on loopback only, bounded in count and time, and stopping by itself — per app (the working tree's;
with --compare also the commit's, checked out in a temporary `git worktree` that is removed afterwards; with
--compare-queue also the working tree's started with gradio's default queue updates and event summaries, the
configuration before issue 14, so that only that differs):
1. copies `data/articles` into a temporary corpus folder and ingests it, with that app's code, into a temporary
   RAG_DATA_DIR (an index cannot be reused from elsewhere: documents record their file's path);
2. starts `python app.py` on 127.0.0.1:<free port> over that index (the real app, in its own process);
3. phase "steady": N concurrent sessions each ask `--turns` questions from eval/datasets/kz-ru.jsonl through
   `/ask`, passing the conversation so far as `history`, with no pause between turns;
4. phase "during ingest": the same load, while a few synthetic articles are copied into the corpus folder and
   `rag ingest` runs in a subprocess on the same data dir (the embedded store shared by two processes);
   afterwards one gradio_client asks about each new article, to see whether the running app can answer from it.
The sessions run in a client process of their own (bench/load_client.py; by default raw HTTP in gradio's
queue protocol, the one gradio_client and the page speak), so that the client's CPU is measured apart from the
app's. Per phase: requests, errors (an `{"error": ...}` reply, an exception or a timeout), refusals,
p50/p95/max latency of one `/ask` as a client sees it (queueing included), throughput, and the CPU seconds the
app and the client spent. Results go to bench/results/load.json (+ history/); a markdown table is printed.
Exit code 1 if any request to the working tree's app failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
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
TARGET = {"p95_ms": 2000, "throughput_rps": 18}  # issue 14: 50 sessions, 0 errors
# `python app.py` as it was configured before issue 14: queue positions sent whenever a job starts ("auto") and
# gradio's monitoring summary rebuilt after every event (app.py turns both off).
OLD_QUEUE_APP = "import sys, app; app.STATUS_UPDATE_SECONDS = 'auto'; sys.exit(app.main(sys.argv[1:]))"
OLD_QUEUE_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1"}


@dataclass
class Phase:
    name: str
    requests: list[dict[str, Any]] = field(default_factory=list)  # bench/load_client.py's records
    wall_seconds: float = 0.0
    app_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0

    def stats(self, window: tuple[float, float] | None = None) -> dict[str, Any]:
        reqs = self.requests
        if window is not None:
            reqs = [r for r in reqs if r["started"] < window[1] and r["started"] + r["seconds"] > window[0]]
        errors = [r for r in reqs if not r["ok"]]
        samples: dict[str, int] = {}
        for r in errors:
            samples[r.get("error") or "?"] = samples.get(r.get("error") or "?", 0) + 1
        out: dict[str, Any] = {
            "requests": len(reqs),
            "errors": len(errors),
            "error_samples": dict(sorted(samples.items(), key=lambda kv: -kv[1])[:5]),
            "refused": sum(bool(r.get("refused")) for r in reqs if r["ok"]),
            "latency_ms": summarize([r["seconds"] * 1000 for r in reqs]),
        }
        if window is None and reqs:
            out["sessions"] = len({r["session"] for r in reqs})
            out["wall_seconds"] = round(self.wall_seconds, 2)
            out["throughput_rps"] = round(len(reqs) / self.wall_seconds, 2) if self.wall_seconds else None
            out["app_cpu_ms_per_request"] = round(1000 * self.app_cpu_seconds / len(reqs), 1)
            out["client_cpu_ms_per_request"] = round(1000 * self.client_cpu_seconds / len(reqs), 1)
        return out


def load_sessions(n_sessions: int, turns: int, seed: int) -> list[list[str]]:
    """`turns` questions per session, drawn without replacement (while the dataset lasts) with a fixed seed."""
    import random

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(name: str, url: str, app_pid: int, sessions: list[list[str]], work: Path,
              args: argparse.Namespace) -> Phase:
    """The sessions, in a client process of their own (bench/load_client.py); the app's CPU is read around it."""
    phase = Phase(name)
    path = work / f"sessions-{name}.json"
    path.write_text(json.dumps(sessions, ensure_ascii=False), encoding="utf-8")
    command = [sys.executable, "-m", "bench.load_client", url, str(path), "--client", args.client,
               "--deadline-s", str(args.phase_limit), "--timeout-s", str(args.request_timeout)]
    app_cpu = cpu_seconds(app_pid)
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                         timeout=args.phase_limit + args.request_timeout + 120)
    phase.app_cpu_seconds = cpu_seconds(app_pid) - app_cpu
    for line in out.stdout.splitlines():
        record = json.loads(line)
        if "client_cpu_seconds" in record:
            phase.client_cpu_seconds = record["client_cpu_seconds"]
        else:
            phase.requests.append(record)
    if out.returncode != 0 or not phase.requests:
        raise RuntimeError(f"the load client failed (exit {out.returncode}): {out.stderr[-2000:]}")
    # From the first request sent to the last answer: the client process's start-up is not the app's time.
    phase.wall_seconds = (max(r["started"] + r["seconds"] for r in phase.requests)
                          - min(r["started"] for r in phase.requests))
    return phase


# ------------------------------------------------------------------------------------------------ set-up


def build_index(work: Path, env: dict[str, str], root: Path, timeout: float) -> dict[str, Any]:
    """A copy of the seed corpus ingested by the code at `root` into work/data."""
    corpus = work / "articles"
    shutil.copytree(ARTICLES, corpus)
    target = work / "data"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "cli", "ingest", "--quiet"], cwd=root, capture_output=True,
                         text=True, timeout=timeout, env={**env, "RAG_DATA_DIR": str(target),
                                                          "RAG_CORPUS_DIR": str(corpus)})
    if out.returncode != 0:
        raise RuntimeError(f"ingest failed: {out.stderr[-2000:]}")
    line = next((x for x in out.stdout.splitlines() if x.startswith("added")), out.stdout.strip())
    return {"corpus": str(corpus), "data_dir": str(target), "seconds": round(time.monotonic() - started, 2),
            "summary": line}


def start_app(env: dict[str, str], root: Path, log_path: Path, timeout: float,
              old_queue: bool = False) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    started = time.monotonic()
    program = ["-c", OLD_QUEUE_APP] if old_queue else ["app.py"]
    env = {**env, **OLD_QUEUE_ENV} if old_queue else env
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, *program, "--host", "127.0.0.1", "--port", str(port)], cwd=root,
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


def ask_new_articles(url: str, timeout: float) -> dict[str, Any]:
    """One gradio_client asks about each synthetic article: can the running app answer from the new index?"""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    checks = []
    for _, question, expected in SYNTHETIC.values():
        try:
            reply = client.submit(question, api_name="/ask").result(timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        good = isinstance(reply, dict) and expected in reply.get("text", "")
        checks.append({"question": question, "expected": expected, "ok": good,
                       "reply": (reply.get("error") or reply.get("text", ""))[:200]})
    return {"asked": len(checks), "answered": sum(c["ok"] for c in checks), "checks": checks}


def run_app(label: str, root: Path, work: Path, env: dict[str, str], args: argparse.Namespace,
            old_queue: bool = False) -> dict[str, Any]:
    """Index, serve and load the app whose code is at `root`: both phases and the new-article check."""
    work.mkdir(parents=True, exist_ok=True)
    print(f"[{label}] index: ingesting a copy of data/articles with the code at {root} …")
    index = build_index(work, env, root, timeout=900)
    env = {**env, "RAG_DATA_DIR": index["data_dir"], "RAG_CORPUS_DIR": index["corpus"]}
    print(f"  {index['summary']} ({index['seconds']} s)")
    app_proc, url, app_start = start_app(env, root, work / "app.log", timeout=180, old_queue=old_queue)
    try:
        print(f"[{label}] app: {url} serving after {app_start:.1f} s; load avg {loadavg()[0]}")
        print(f"[{label}] phase 1: {args.sessions} sessions x {args.turns} questions ({args.client} client) …")
        steady = run_phase("steady", url, app_proc.pid, load_sessions(args.sessions, args.turns, args.seed), work, args)
        st = steady.stats()
        print(f"  {st['requests']} requests, {st['errors']} errors, {steady.wall_seconds:.1f} s, "
              f"p95 {st['latency_ms']['p95']} ms, {st['throughput_rps']} req/s")

        print(f"[{label}] phase 2: the same load while `rag ingest` adds {len(SYNTHETIC)} articles …")
        for name, (text, _, _) in SYNTHETIC.items():
            (Path(index["corpus"]) / name).write_text(text, encoding="utf-8")
        ingest_log, ingest_info = work / "ingest.log", {}

        def run_ingest() -> None:  # starts with the load: its ~2 s of imports let the load build up
            started = time.time()
            with open(ingest_log, "w") as out:
                proc = subprocess.Popen([sys.executable, "-m", "cli", "ingest", "--quiet"], cwd=root, env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
                try:
                    ingest_info["returncode"] = proc.wait(args.phase_limit)
                except subprocess.TimeoutExpired:
                    stop_process(proc)
                    ingest_info["returncode"] = "timeout"
            ingest_info.update(window=[started, time.time()], seconds=round(time.time() - started, 2))

        ingester = threading.Thread(target=run_ingest, name="ingest", daemon=True)
        ingester.start()
        during = run_phase("during_ingest", url, app_proc.pid,
                           load_sessions(args.sessions, args.turns, args.seed + 1), work, args)
        ingester.join(args.phase_limit + 60)
        log_text = ingest_log.read_text(errors="replace") if ingest_log.exists() else ""
        summary = next((x for x in log_text.splitlines() if x.startswith("added")), log_text.strip()[-300:])
        during_stats = during.stats()
        print(f"  {during_stats['requests']} requests, {during_stats['errors']} errors, {during.wall_seconds:.1f} s; "
              f"ingest: exit {ingest_info.get('returncode')} — {summary}")
        if ingest_info.get("window"):
            during_stats["overlapping_ingest"] = during.stats(tuple(ingest_info["window"]))
        after = ask_new_articles(url, args.request_timeout)
    finally:
        stop_process(app_proc, 20)
    commit = f"{git_commit(root)}, old queue settings" if old_queue else git_commit(root)
    return {"label": label, "root": str(root), "commit": commit, "index": index,
            "app_start_seconds": round(app_start, 2), "phases": {"steady": st, "during_ingest": during_stats},
            "ingest_during_load": {"returncode": ingest_info.get("returncode"), "seconds": ingest_info.get("seconds"),
                                   "summary": summary, "articles": sorted(SYNTHETIC)},
            "after_ingest": after}


def git_commit(root: Path) -> str | None:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                           text=True).stdout.strip()
    return (out.stdout.strip() + ("+changes" if dirty else "")) if out.returncode == 0 else None


# ------------------------------------------------------------------------------------------------ report


def markdown(result: dict[str, Any]) -> str:
    cfg = result["config"]
    rows = [
        f"## Load: {cfg['sessions']} concurrent chat sessions x {cfg['turns']} questions via `/ask` "
        f"(`python app.py`, embedded store, {cfg['client']} client)",
        "",
        f"{machine_line(result['machine'])}",
        "",
        f"Target (steady): 0 errors, p95 ≤ {TARGET['p95_ms']} ms, ≥ {TARGET['throughput_rps']} req/s. Wall: first "
        "request sent to last answer. CPU: milliseconds per request in the app's process and in the load client's.",
        "",
        "| app | phase | requests | errors | refused | p50 ms | p95 ms | max ms | wall s | req/s | app CPU ms | "
        "client CPU ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["apps"]:
        name = f"{run['label']} ({run['commit']})"
        phases = run["phases"]
        named = [("steady", phases["steady"]), ("during ingest", phases["during_ingest"]),
                 ("… overlapping the ingest", phases["during_ingest"].get("overlapping_ingest"))]
        for label, st in named:
            if not st:
                continue
            lat = st["latency_ms"]
            rows.append(f"| {name} | {label} | {st['requests']} | {st['errors']} | {st['refused']} | {lat['p50']} | "
                        f"{lat['p95']} | {lat['max']} | {st.get('wall_seconds', '')} | "
                        f"{st.get('throughput_rps', '')} | {st.get('app_cpu_ms_per_request', '')} | "
                        f"{st.get('client_cpu_ms_per_request', '')} |")
    rows.append("")
    for run in result["apps"]:
        ing, after = run["ingest_during_load"], run["after_ingest"]
        rows.append(f"- {run['label']}: ingest during load exit {ing['returncode']} in {ing['seconds']} s — "
                    f"{ing['summary']}; new articles answerable afterwards: {after['answered']}/{after['asked']}")
        for phase in ("steady", "during_ingest"):
            for error, count in run["phases"][phase]["error_samples"].items():
                rows.append(f"  - {phase} error ×{count}: {error}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=3, help="questions per session")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--client", choices=("http", "gradio"), default="http",
                        help="raw HTTP in gradio's queue protocol (default) or gradio_client; see bench/load_client.py")
    parser.add_argument("--compare", metavar="COMMIT",
                        help="also load the app at this commit (a temporary git worktree), before the working tree's")
    parser.add_argument("--compare-queue", action="store_true",
                        help="also load this app with the queue settings before issue 14, before the current ones")
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
    worktree: Path | None = None
    try:
        apps = []
        if args.compare:
            worktree = work / "before-tree"
            subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.compare], cwd=ROOT, check=True,
                           capture_output=True, text=True)
            apps.append(run_app("before", worktree, work / "before", env, args))
        elif args.compare_queue:
            apps.append(run_app("before", ROOT, work / "before", env, args, old_queue=True))
        compared = args.compare or args.compare_queue
        apps.append(run_app("after" if compared else "app", ROOT, work / "after", env, args))
        machine["loadavg_end"] = loadavg()
        result: dict[str, Any] = {
            "created": now_iso(),
            "machine": machine,
            "config": {"sessions": args.sessions, "turns": args.turns, "seed": args.seed, "client": args.client,
                       "compare": args.compare or ("old queue settings" if args.compare_queue else None),
                       "dataset": str(DATASET.relative_to(ROOT)), "phase_limit_s": args.phase_limit,
                       "request_timeout_s": args.request_timeout},
            "target": TARGET,
            "apps": apps,
        }
        result["markdown"] = markdown(result)
        path = write_result(args.results, "load", result)
        print()
        print(result["markdown"])
        print(f"\nwritten: {path}")
        current = apps[-1]["phases"]
        return 1 if current["steady"]["errors"] + current["during_ingest"]["errors"] else 0
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.exit(main())
