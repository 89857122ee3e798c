"""The review page in a real browser: Debian's headless Chromium draws the records and the diff,
planted markup from a seed row and from the teacher does not run, permalinks and keys move between
records, and a screenshot of the page is not blank.

These tests need /usr/bin/chromium and fail without it (CI installs it); `REFED_BROWSER_TESTS=0`
skips them on a machine that has no browser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from refed_hf.review.command import main as review_main
from tests.conftest import TEST_KEY
from tests.fakes.seeds import lima_rows
from tests.fakes.teacher import TeacherFaults
from tests.helpers import running_teacher, set_env, user_env
from tests.review_support import CHROMIUM, HOSTILE_ANSWER, HOSTILE_SEED, Browser, chromium, synthetic_release

pytestmark = pytest.mark.skipif(os.environ.get("REFED_BROWSER_TESTS") == "0", reason="REFED_BROWSER_TESTS=0")
DRAWN_TAGS = {"article", "del", "ins", "ul", "li", "strong", "button"}  # what the page's script adds


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._where: list[str] = []
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._where.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._where:
            while self._where.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._where and self._where[-1] == "title":
            self.title += data
        elif not self._where or self._where[-1] not in ("script", "style"):
            self.text += data

    def ids(self, tag: str) -> list[str]:
        return [attrs.get("id") or "" for name, attrs in self.elements if name == tag]


@pytest.fixture(scope="module")
def browser_ready() -> None:
    assert CHROMIUM.exists(), f"no Chromium at {CHROMIUM}: apt-get install -y chromium, or set REFED_BROWSER_TESTS=0"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, browser_ready: None) -> Path:
    """A release built by the real CLI against the fake teacher, from a seed whose first row plants markup."""
    folder = tmp_path_factory.mktemp("review-browser")
    rows = lima_rows(10)
    rows[0]["conversations"] = [HOSTILE_SEED, HOSTILE_SEED]
    (folder / "seed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with running_teacher(TeacherFaults(api_key=TEST_KEY, rate_refusal=0.1, rate_truncated=0.1)) as teacher:
        with pytest.MonkeyPatch.context() as patch:
            set_env(patch, user_env(teacher))
            patch.chdir(folder)
            from refed_hf.build import main

            assert main(["--quiet", "--seed", "seed.jsonl", "--size", "60", "--output", "out"]) == 0
    page = folder / "review.html"
    assert review_main([str(folder / "out" / "v0.1.0"), "--output", str(page)]) == 0
    return page


def _dom(page: Path, fragment: str = "") -> Dom:
    done = chromium("--dump-dom", page.as_uri() + fragment)
    assert done.returncode == 0, done.stderr[-2000:]
    return Dom(done.stdout)


def test_chromium_draws_the_records_and_their_diff_and_no_planted_markup_runs(built: Path) -> None:
    dom = _dom(built, "#records")
    records = [i for i in dom.ids("article") if i.startswith("record-")]
    assert records == [f"record-{n}" for n in range(25)]  # the first page, in order
    tags = {tag for tag, _ in dom.elements}
    assert {"del", "ins"} <= tags
    # The seed row's <img onerror> and <script> are text on the page, and did nothing.
    assert "img" not in tags and HOSTILE_SEED in dom.text
    assert dom.title == "REFED review: v0.1.0"
    body = next(attrs for tag, attrs in dom.elements if tag == "body")
    assert "data-pwned" not in body
    assert [tag for tag, attrs in dom.elements if tag == "script"] == ["script", "script"]


def test_hostile_teacher_answers_stay_text_in_the_browser(tmp_path: Path, browser_ready: None) -> None:
    release = synthetic_release(tmp_path / "out", 30, judge=True)
    page = tmp_path / "review.html"
    assert review_main([str(release), "--output", str(page)]) == 0
    dom = _dom(page, "#record-0")
    assert HOSTILE_ANSWER.replace("\u2028", "") in dom.text.replace("\u2028", "")
    assert not {"img", "b"} & {tag for tag, _ in dom.elements} and dom.title == "REFED review: v1.0.0"
    assert "data-pwned" not in next(attrs for tag, attrs in dom.elements if tag == "body")
    assert "judge: original" in dom.text and "win rate of the improvement" in dom.text


def test_a_permalink_opens_its_record_on_its_page(built: Path) -> None:
    dom = _dom(built, "#record-30")
    records = [i for i in dom.ids("article") if i.startswith("record-")]
    assert records == [f"record-{n}" for n in range(25, 50)]
    (focused,) = [
        attrs["id"] for tag, attrs in dom.elements if tag == "article" and "focused" in (attrs.get("class") or "")
    ]
    assert focused == "record-30"


@pytest.fixture
def browser(browser_ready: None) -> Iterator[Browser]:
    driven = Browser()
    yield driven
    driven.close()


def test_keys_move_between_records_and_pages_and_search_filters(built: Path, browser: Browser) -> None:
    browser.open(built.as_uri() + "#records")
    browser.press("j")
    assert browser.evaluate("location.hash") == "#record-0"
    browser.press("j")
    browser.press("j")
    browser.press("k")
    assert browser.evaluate("location.hash") == "#record-1"
    assert browser.evaluate("document.querySelector('.focused').id") == "record-1"
    browser.press("n")
    assert browser.evaluate("document.querySelector('#record-list article').id") == "record-25"
    browser.press("p")
    browser.press("/")
    assert browser.evaluate("document.activeElement.name") == "text"
    browser.type("instruction 3 ")
    shown = browser.evaluate("[...document.querySelectorAll('#record-list article')].map(a => a.id)")
    assert 0 < len(shown) < 25
    texts = browser.evaluate(
        "[...document.querySelectorAll('#record-list article')].map(a => a.textContent.toLowerCase())"
    )
    assert all("instruction 3 " in text for text in texts)
    # A reference link opens the reference with its feedback and links back to its records.
    browser.evaluate("document.querySelector('#record-list article header a[href^=\"#reference-\"]').click()")
    assert browser.wait_for("!document.getElementById('view-references').hidden")
    assert browser.evaluate("document.querySelector('#reference-list .focused').textContent").count("#") >= 1


def test_a_screenshot_of_the_page_is_not_blank(built: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "page.png"
    done = chromium("--window-size=1280,900", f"--screenshot={shot}", built.as_uri() + "#records")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 900)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, diff marks and borders, not one flat colour
    background = max(colours)[0] / (1280 * 900)
    assert background < 0.9
    assert any(r > 240 and g < 225 and b < 225 for _, (r, g, b) in colours)  # a deletion's red
    assert any(g > 240 and r < 215 and b < 225 for _, (r, g, b) in colours)  # an insertion's green
