"""End to end in Debian's headless Chromium, driven by Playwright (never a downloaded browser).

Chromium comes from scripts/install-system-deps.sh; if it is missing the tests fail and say so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import make_settings, serve_app
from openai_stub import Script, stub_server

from rag import RAG

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
XSS_ARTICLE = (
    'Lantern festival <img src=x onerror="window.__xss=3"> in Quimby\n\n'
    "The lantern festival in Quimby drew 5,000 visitors this year <script>window.__xss=1</script> according "
    "to the organisers.\n\n"
    'Organiser Pella Marsh said <img src=x onerror="window.__xss=2"> the lantern parade was the longest ever, '
    "at 3 kilometres.\n"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `sudo bash scripts/install-system-deps.sh` (Debian chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@contextmanager
def open_page(browser, url: str) -> Iterator[object]:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("#aqa-question textarea", timeout=30_000)
    try:
        yield page, dialogs
    finally:
        page.close()


def ask(page, question: str) -> None:  # noqa: ANN001
    page.fill("#aqa-question textarea", question)
    page.click("#aqa-send")


def test_ask_follow_up_and_refusal(browser, engine: RAG, tmp_path: Path) -> None:  # noqa: ANN001
    with serve_app(engine) as url, open_page(browser, url) as (page, dialogs):
        page.locator("#aqa-chat").get_by_text("What does").first.click()  # an example question
        page.wait_for_selector("#aqa-chat .aqa-answered, #aqa-chat .aqa-refusal", timeout=30_000)
        page.click("#aqa-clear")
        page.wait_for_function("!document.querySelector('#aqa-chat .aqa-a')", timeout=10_000)

        ask(page, "How many times has Putin visited Kazakhstan?")
        page.wait_for_selector("#aqa-chat .aqa-answered", timeout=30_000)
        page.wait_for_selector("#aqa-sources mark", timeout=30_000)
        answer = page.inner_text("#aqa-chat .aqa-answered")
        assert "Kazakhstan" in answer and "[1]" in answer
        # The marker links to a card that exists, and the card highlights a verbatim span of the article.
        href = page.get_attribute("#aqa-chat a.aqa-cite", "href")
        card = page.locator(f"#aqa-sources {href}")
        assert card.count() == 1
        quote = card.locator("mark").inner_text()
        documents = engine.retriever.corpus().documents
        doc_id = card.locator(".aqa-meta code").inner_text()
        assert " ".join(quote.split()) in " ".join(documents[doc_id].text.split())
        assert len(card.locator(".aqa-para").inner_text()) >= len(quote)  # shown inside its paragraph
        page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)

        ask(page, "Which order did he refuse?")  # a follow-up in the same conversation
        page.wait_for_function("document.querySelectorAll('#aqa-chat .aqa-answered').length >= 2", timeout=30_000)
        assert "Nevsky" in page.locator("#aqa-chat .aqa-answered").nth(1).inner_text()
        page.wait_for_selector("#aqa-sources #aqa-src-1-1", timeout=10_000)
        page.locator("#aqa-chat .aqa-answered").first.click()  # an earlier answer shows its own sources
        page.wait_for_selector("#aqa-sources #aqa-src-0-1", timeout=10_000)

        ask(page, "Who wrote the article about Putin's state visit to Kazakhstan?")  # the byline, cited
        page.wait_for_function("document.querySelectorAll('#aqa-chat .aqa-answered').length >= 3", timeout=30_000)
        assert "Sergey Saenko" in page.locator("#aqa-chat .aqa-answered").nth(2).inner_text()
        page.wait_for_selector("#aqa-sources #aqa-src-2-1 .aqa-byline", timeout=10_000)
        assert "By Sergey Saenko, international observer" in page.inner_text("#aqa-sources #aqa-src-2-1 .aqa-byline")

        ask(page, "What is the population of Brazil?")
        page.wait_for_selector("#aqa-chat .aqa-refusal", timeout=30_000)
        page.wait_for_selector("#aqa-sources .aqa-passage", timeout=30_000)
        assert "Closest passages" in page.inner_text("#aqa-sources")
        page.screenshot(path=str(tmp_path / "refusal.png"), full_page=True)

        ask(page, "   ")
        page.wait_for_selector("#aqa-chat .aqa-status-error", timeout=30_000)
        assert "the question is empty" in page.inner_text("#aqa-chat .aqa-status-error")

        page.click("#aqa-clear")
        page.wait_for_function("!document.querySelector('#aqa-chat .aqa-a')", timeout=10_000)
        page.get_by_role("tab", name="About the corpus").click()
        about = page.inner_text("#aqa-about")
        docs = engine.documents()
        assert f"{len(docs)} articles, {sum(d['chunks'] for d in docs)} passages" in about
        assert all(f"{d['doc_id']}\t{d['chunks']}" in about for d in docs)
        assert "By Sergey Saenko, international observer" in about and "Segodnya" in about  # each one's byline
        assert dialogs == []


def test_llm_answer_streams_in(browser, tmp_path: Path, small_corpus: Path) -> None:  # noqa: ANN001
    """With a (scripted) LLM the answer appears piece by piece before the final, verified answer."""
    content = ("The new harbour bridge in Port Elmswick opened on March 3 after four years of construction [1]. "
               "It cost 120 million euros and carries two tram lines [1].")
    with stub_server(default=Script(content=content, chunk_delay=0.15)) as stub:
        engine = RAG(make_settings(tmp_path, small_corpus, llm_base_url=stub.base_url, llm_model="stub-model"))
        engine.ingest()
        with serve_app(engine) as url, open_page(browser, url) as (page, dialogs):
            ask(page, "When did the harbour bridge in Port Elmswick open?")
            page.wait_for_function("(document.querySelector('#aqa-chat .aqa-streaming:not(.aqa-waiting)')"
                                   "?.innerText || '').includes('harbour')", timeout=30_000)
            partial = page.inner_text("#aqa-chat .aqa-streaming")
            page.wait_for_selector("#aqa-chat .aqa-answered, #aqa-chat .aqa-refusal", timeout=60_000)
            final = page.inner_text("#aqa-chat .aqa-a")
            assert 0 < len(partial.strip(" ▍")) < len(content)
            assert "March 3" in final
            page.wait_for_selector("#aqa-sources mark", timeout=10_000)
            page.screenshot(path=str(tmp_path / "llm.png"), full_page=True)


def test_article_text_is_never_executed(browser, tmp_path: Path) -> None:  # noqa: ANN001
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "lanterns.txt").write_text(XSS_ARTICLE, encoding="utf-8")
    engine = RAG(make_settings(tmp_path, corpus))
    engine.ingest()
    with serve_app(engine) as url, open_page(browser, url) as (page, dialogs):
        ask(page, "How many visitors did the lantern festival in Quimby draw?")
        page.wait_for_selector("#aqa-sources mark", timeout=30_000)
        ask(page, "How long was the lantern parade?")
        page.wait_for_function("document.querySelectorAll('#aqa-chat .aqa-answered').length >= 2", timeout=30_000)
        page.wait_for_selector("#aqa-sources mark", timeout=30_000)
        if page.locator("#aqa-sources summary").count():
            page.locator("#aqa-sources summary").click()  # show the retrieved passages too
        time.sleep(1)  # give any injected handler (img onerror) the chance to fire
        shown = page.inner_text("#aqa-chat") + page.inner_text("#aqa-sources")
        assert "<script>window.__xss=1</script>" in shown  # displayed as text
        assert 'onerror="window.__xss=2"' in shown
        page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)
        page.get_by_role("tab", name="About the corpus").click()
        assert "onerror" in page.inner_text("#aqa-about")
        time.sleep(0.5)
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("#aqa-chat script, #aqa-sources script").count() == 0
        assert dialogs == []


def test_upload_from_the_page(browser, tmp_path: Path, small_corpus: Path) -> None:  # noqa: ANN001
    engine = RAG(make_settings(tmp_path, small_corpus))
    engine.ingest()
    upload = tmp_path / "upload" / "Ferry Strike!.txt"
    upload.parent.mkdir()
    upload.write_text("Ferry strike in Lundholm\n\nFerry workers in Lundholm went on strike on May 9 over pay.\n")
    with serve_app(engine) as url, open_page(browser, url) as (page, dialogs):
        page.get_by_text("Add articles").click()
        page.locator("#aqa-upload input[type=file]").set_input_files(str(upload))
        page.wait_for_function("(document.querySelector('#aqa-upload-result')?.innerText || '').includes('Index:')",
                               timeout=60_000)
        assert "saved as Ferry-Strike.txt" in page.inner_text("#aqa-upload-result")
        assert (small_corpus / "Ferry-Strike.txt").exists()
        assert "4 articles" in page.inner_text("#aqa-status")
        ask(page, "When did the ferry workers in Lundholm go on strike?")
        page.wait_for_selector("#aqa-sources mark", timeout=30_000)
        assert "May 9" in page.inner_text("#aqa-sources mark")
        page.get_by_role("tab", name="About the corpus").click()
        assert "Ferry-Strike" in page.inner_text("#aqa-about")
        page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)
        assert dialogs == []
