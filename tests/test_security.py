"""Security settings of the app: the login (RAG_AUTH) and its slow-down of guessing, the warning for a public
bind without a login, and the bounds on what one request may carry (the history).

The login's counting and waiting are checked on `app.Login` with a recorded sleep (no server, no real
waiting); one test times wrong passwords against the served login form.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, serve_app
from gradio_client import Client
from pydantic import SecretStr

import app
from rag import RAG, QuestionError
from rag.request import MAX_HISTORY_MESSAGES, Request, recent_history
from store.settings import Settings

# ------------------------------------------------------------------------------------------------- login


class Clock:
    """A sleep that records how long it was asked to wait, and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def attempts(login: app.Login, *pairs: tuple[str, str]) -> list[bool]:
    async def run() -> list[bool]:
        return [await login.check(user, password) for user, password in pairs]

    return asyncio.run(run())


def test_login_checks_user_and_password() -> None:
    login = app.Login("reader", "s3cret-pass", sleep=Clock().sleep)
    assert attempts(login, ("reader", "s3cret-pass"), ("reader", "wrong"), ("Reader", "s3cret-pass"),
                    ("reader", "s3cret-pass "), ("", ""), ("reader", "s3cret-pas")) == [True] + [False] * 5
    assert attempts(login, ("читатель", "пароль")) == [False]  # non-ASCII input is compared, not an error


def test_repeated_wrong_passwords_wait_longer_and_longer_up_to_a_cap() -> None:
    clock = Clock()
    login = app.Login("reader", "s3cret-pass", sleep=clock.sleep)
    assert attempts(login, *[("reader", f"guess-{i}") for i in range(10)]) == [False] * 10
    assert clock.waits == [0.25, 0.5, 1.0, 2.0, 2.0]  # the first FREE_FAILURES (5) are answered at once
    assert login.failures == 10 and login.delay() == app.Login.MAX_DELAY
    assert attempts(login, ("reader", "s3cret-pass")) == [True]  # the right password, after the wait
    assert clock.waits[-1] == 2.0 and login.failures == 0
    assert attempts(login, ("reader", "typo")) == [False] and len(clock.waits) == 6  # reset: no wait


def test_parallel_guesses_are_checked_one_at_a_time_and_the_excess_refused() -> None:
    async def run() -> tuple[list[bool], int, int]:
        release = asyncio.Event()
        started: list[float] = []

        async def sleep(seconds: float) -> None:
            started.append(seconds)
            await release.wait()

        login = app.Login("reader", "s3cret-pass", sleep=sleep)
        login.failures = app.Login.FREE_FAILURES
        tasks = [asyncio.create_task(login.check("reader", f"guess-{i}")) for i in range(app.Login.MAX_WAITING + 8)]
        await asyncio.sleep(0.05)
        waiting = len(started)  # only one attempt at a time is in its wait
        release.set()
        return list(await asyncio.gather(*tasks)), waiting, login.failures

    results, waiting, failures = asyncio.run(run())
    assert waiting == 1 and not any(results)
    assert failures == app.Login.FREE_FAILURES + app.Login.MAX_WAITING  # the 8 beyond the queue were not checked


def test_login_check_from_the_settings() -> None:
    settings = Settings(_env_file=None, auth=SecretStr("reader:s3cret-pass"))  # type: ignore[call-arg]
    check = app.login_check(settings)
    assert check is not None and asyncio.run(check("reader", "s3cret-pass"))
    assert app.login_check(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    with pytest.raises(Exception, match="user:password"):
        app.login_check(Settings(_env_file=None, auth=SecretStr("no-colon")))  # type: ignore[call-arg]


def test_the_served_login_form_slows_down_guessing(engine: RAG) -> None:
    """60 wrong passwords in a row were all answered at once; HTTP Basic (`curl -u`) never was the login."""
    with serve_app(engine, auth=SecretStr("reader:s3cret-pass")) as address, \
            httpx.Client(base_url=address, timeout=30) as http:
        assert http.get("config", auth=("reader", "s3cret-pass")).status_code == 401  # not HTTP Basic
        times = []
        for i in range(7):
            started = time.monotonic()
            reply = http.post("login", data={"username": "reader", "password": f"guess-{i}"})
            times.append(time.monotonic() - started)
            assert reply.status_code == 400
        assert times[5] >= 0.25 and times[6] >= 0.5 and max(times[:5]) < times[6], times
        client = Client(address, auth=("reader", "s3cret-pass"), verbose=False)  # logs in through the form
        assert client.predict("How many times has Putin visited Kazakhstan?", api_name="/ask")["citations"]
        started = time.monotonic()
        assert http.post("login", data={"username": "reader", "password": "wrong"}).status_code == 400
        assert time.monotonic() - started < 0.25  # the successful login reset the count


# ------------------------------------------------------------------------------------------- public bind


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_hosts_need_no_warning(host: str) -> None:
    assert app.is_loopback(host)
    assert app.public_bind_warning(Settings(_env_file=None, host=host)) is None  # type: ignore[call-arg]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org", ""])
def test_a_public_bind_without_auth_is_warned_about(host: str) -> None:
    assert not app.is_loopback(host)
    warning = app.public_bind_warning(Settings(_env_file=None, host=host))  # type: ignore[call-arg]
    assert warning is not None and "RAG_AUTH is not set" in warning and f"RAG_HOST={host} " in warning
    with_auth = Settings(_env_file=None, host=host, auth=SecretStr("reader:pw"))  # type: ignore[call-arg]
    assert app.public_bind_warning(with_auth) is None


def test_main_warns_on_a_public_bind_without_auth(tmp_path: Path, indexed_articles: Settings) -> None:
    """`app.main` on 0.0.0.0 without RAG_AUTH: the warning is on stderr (gradio's launch is replaced, so that
    nothing listens on 0.0.0.0)."""
    script = "import sys, app; app.launch = lambda *a, **k: None; sys.exit(app.main(sys.argv[1:]))"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RAG_DATA_DIR": str(indexed_articles.data_dir),
           "RAG_CORPUS_DIR": str(indexed_articles.corpus_dir)}
    public = subprocess.run([sys.executable, "-c", script, "--host", "0.0.0.0"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert public.returncode == 0, public.stderr[-2000:]
    assert "WARNING article_qa.app: RAG_HOST=0.0.0.0 makes the app reachable" in public.stderr
    local = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
    assert local.returncode == 0 and "RAG_AUTH is not set" not in local.stderr, local.stderr[-2000:]


def test_main_logs_the_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(app, "launch", lambda *args, **kwargs: None)
    monkeypatch.setattr(app.Indexer, "start_if_needed", lambda self: False)
    monkeypatch.setattr(app, "build_app", lambda *args: None)
    with caplog.at_level(logging.WARNING, logger="article_qa.app"):
        assert app.main(["--host", "0.0.0.0"]) == 0
    assert [r.levelname for r in caplog.records if "RAG_AUTH is not set" in r.getMessage()] == ["WARNING"]


# ------------------------------------------------------------------------------------------------ history


def turns(n: int, content: str = "Why?") -> list[dict[str, str]]:
    return [{"role": ("user", "assistant")[i % 2], "content": content} for i in range(n)]


def test_history_is_bounded_in_messages_and_characters() -> None:
    assert len(Request.parse("Where?", history=turns(50), max_chars=100).history) == 50
    with pytest.raises(QuestionError, match=r"^the history is too long \(51 messages; the limit is 50\)"):
        Request.parse("Where?", history=turns(51), max_chars=100)
    assert Request.parse("Where?", history=turns(2, "x" * 1000), max_chars=100).history  # 2,000 = 20 × 100
    with pytest.raises(QuestionError, match=r"too long \(2,001 characters; the limit is 2,000\)"):
        Request.parse("Where?", history=[*turns(2, "x" * 1000), {"role": "system", "content": "y"}], max_chars=100)
    with pytest.raises(QuestionError, match="too long"):  # 13 MB, the size once accepted by /ask
        Request.parse("Where?", history=turns(13, "x" * 1_000_000), max_chars=2000)
    with pytest.raises(QuestionError, match="too long"):
        Request.from_messages([*turns(60), {"role": "user", "content": "Where?"}], max_chars=100)


def test_recent_history_keeps_the_latest_turns_within_the_bounds() -> None:
    many = [{"role": ("user", "assistant")[i % 2], "content": str(i)} for i in range(80)]
    kept = recent_history(many, max_chars=2000)
    assert kept == many[-MAX_HISTORY_MESSAGES:] and kept[0]["role"] == "user"
    long = [{"role": "user", "content": "q" * 30}, {"role": "assistant", "content": "a" * 30}] * 3
    kept = recent_history(long, max_chars=5)  # room for 100 characters: 3 messages, starting with a user turn
    assert kept == long[-2:]
    assert Request.parse("Where?", history=recent_history(turns(500, "x" * 500), 100), max_chars=100)
    assert recent_history([], 100) == []
