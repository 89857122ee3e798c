"""The review page: every record and reference in its embedded data, the word diff that gives both
texts back, hostile markup from seeds and teachers kept as text, the judge shown when a release has
one, the build's dropped items kept beside its cache, and a release read back from the Hub."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from refed_hf.cli import main as cli_main
from refed_hf.review.command import main as review_main
from refed_hf.review.diff import DELETED, EQUAL, INSERTED, side, word_diff
from refed_hf.review.judge import judgement
from refed_hf.review.page import csp_hash
from tests.conftest import HUB_TOKEN
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import lima_rows
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build, manifest, running_teacher, set_env, user_env
from tests.review_support import HOSTILE_ANSWER, HOSTILE_SEED, synthetic_release

# Every tag the page's template writes; data must add none.
TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "span", "nav", "a", "p",
    "kbd", "noscript", "main", "section", "table", "tr", "th", "td", "code", "form", "input", "select",
    "option", "div", "script",
}  # fmt: skip


class Page(HTMLParser):
    """The parts of the page a test reads: tags, script blocks, the CSP, the text of elements by id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.style = ""
        self._in: tuple[str, dict[str, str | None]] | None = None
        self._text: list[str] = []
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in, self._text = (tag, dict(attrs)), []

    def handle_endtag(self, tag: str) -> None:
        if self._in and tag == self._in[0]:
            body = "".join(self._text)
            if tag == "script":
                self.scripts.append((self._in[1], body))
            else:
                self.style = body
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)
        else:
            self.text += data

    def data(self) -> dict[str, Any]:
        (block,) = [body for attrs, body in self.scripts if attrs.get("type") == "application/json"]
        return json.loads(block)

    def csp(self) -> str:
        (policy,) = [
            a["content"] for t, a in self.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
        ]
        return policy or ""


def _rows(release: Path, config: str) -> list[dict[str, Any]]:
    shards = sorted((release / "data" / config).glob("train-*.parquet")) + sorted(
        (release / "data" / config).glob("test-*.parquet")
    )
    return [row for shard in shards for row in pq.read_table(shard).to_pylist()]


def _review(release: Path | str, output: Path, *extra: str) -> Page:
    assert review_main([str(release), "--output", str(output), *extra]) == 0
    return Page(output.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_release(tmp_path_factory.mktemp("synthetic") / "out", 40, judge=True)


def test_every_record_and_reference_is_in_the_data_and_each_diff_gives_both_texts_back(
    synthetic: Path, tmp_path: Path
) -> None:
    page = _review(synthetic, tmp_path / "review.html")
    data = page.data()
    records = _rows(synthetic, "default")
    assert len(data["records"]) == len(records) == 40
    for shown, row in zip(data["records"], records):
        assert shown["instruction"] == row["instruction"] and shown["ref"] == row["reference_id"]
        assert side(shown["diff"], DELETED) == row["response"]
        assert side(shown["diff"], INSERTED) == row["improved_response"]
        assert {op for op, _ in shown["diff"]} == {EQUAL, DELETED, INSERTED}  # the synthetic improvements change words
        assert shown["analysis"] == row["analysis"] and shown["strategy"] == row["implementation_strategy"]
    assert [ref["id"] for ref in data["references"]] == [row["reference_id"] for row in _rows(synthetic, "feedback")]
    assert data["references"][0]["instruction"] == HOSTILE_SEED
    assert [(item["stage"], item["reason"]) for item in data["dropped"]].count(("filters", "refusal")) == 3
    assert "records" in page.text and "screened" in page.text and "$1.2500 at direct rates" in page.text


def test_hostile_markup_stays_text_and_nothing_can_run_but_the_pages_own_script(
    synthetic: Path, tmp_path: Path
) -> None:
    page = _review(synthetic, tmp_path / "review.html")
    html = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert {tag for tag, _ in page.tags} <= TEMPLATE_TAGS
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None]
    block = page.scripts[0][1]
    assert "<" not in block and ">" not in block and "&" not in block and "\u2028" not in block
    assert html.count("</script>") == 2
    assert "onerror" in block and "onerror" not in html.replace(block, "")  # in the data, and only there
    # The data survives the escaping exactly.
    assert page.data()["records"][0]["instruction"].startswith(HOSTILE_ANSWER)
    # Only the page's own script and style may run or apply, and nothing may be fetched.
    policy = page.csp()
    assert "default-src 'none'" in policy
    assert f"script-src '{csp_hash(page.scripts[1][1])}'" in policy and f"style-src '{csp_hash(page.style)}'" in policy
    assert "<title>REFED review: v1.0.0</title>" in html


def test_the_overview_escapes_what_the_manifest_carries(tmp_path: Path) -> None:
    release = synthetic_release(tmp_path / "out", 10)
    m = manifest(release)
    m["seed"]["name"] = HOSTILE_SEED
    (release / "manifest.json").write_text(json.dumps(m))
    page = _review(release, tmp_path / "review.html")
    assert HOSTILE_SEED in page.text  # as text: the parser saw no tag in it
    assert {tag for tag, _ in page.tags} <= TEMPLATE_TAGS


def test_the_judges_verdicts_and_win_rate_are_shown_when_the_release_has_them(synthetic: Path, tmp_path: Path) -> None:
    page = _review(synthetic, tmp_path / "review.html")
    verdicts = [record["judge"]["verdict"] for record in page.data()["records"]]
    assert verdicts.count("original") == 10 and verdicts.count("improved") == 30
    assert page.data()["records"][0]["judge"]["reasons"][-1] == HOSTILE_ANSWER
    assert "win rate of the improvement75.0%" in page.text.replace("\n", "")  # 30 of 40 records
    assert "verdictsimproved 30, original 10" in page.text.replace("\n", "")

    plain = _review(synthetic_release(tmp_path / "plain", 10), tmp_path / "plain.html")
    assert "win rate" not in plain.text and all(record["judge"] is None for record in plain.data()["records"])


def test_a_judgement_reads_the_judge_column() -> None:
    assert judgement(None) is None and judgement({}) is None
    column = {
        "preferred": "tie",
        "original_first": "original",
        "reason_original_first": "A is shorter.",
        "improved_first": "improved",
        "reason_improved_first": "A is clearer.",
    }
    assert judgement(column) == {
        "verdict": "tie",
        "reasons": ["A is shorter.", "A is clearer."],
        "details": {"original shown first": "original", "improved shown first": "improved"},
    }


def test_the_word_diff_marks_words_and_gives_both_texts_back() -> None:
    assert word_diff("The quick brown fox.", "The quick red fox!") == [
        (EQUAL, "The quick "),
        (DELETED, "brown "),
        (INSERTED, "red "),
        (EQUAL, "fox"),
        (DELETED, "."),
        (INSERTED, "!"),
    ]
    # A word that only moved to a new line is equal; its whitespace is what changed.
    assert word_diff("one two", "one\ntwo") == [(EQUAL, "one"), (DELETED, " "), (INSERTED, "\n"), (EQUAL, "two")]
    rng = random.Random(3)
    alphabet = ["a", "b", "c", " ", "\n", ".", "<", "\u2028", "é", "  "]
    for _ in range(300):
        before = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        after = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        segments = word_diff(before, after)
        assert side(segments, DELETED) == before and side(segments, INSERTED) == after
        assert all(text for _, text in segments)
        assert all(a[0] != b[0] for a, b in zip(segments, segments[1:]))


def test_a_build_keeps_what_it_dropped_beside_its_cache_the_same_whatever_the_timing(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, capsys
) -> None:
    from tests.conftest import TEST_KEY
    from tests.fakes.teacher import TeacherFaults

    faults = TeacherFaults(
        api_key=TEST_KEY, rate_refusal=0.15, rate_truncated=0.1, rate_seed_copy=0.05, rate_no_change=0.1,
        rate_repeated_instructions=0.2, latency=0.01, jitter_sigma=1.0,
    )  # fmt: skip
    rows = lima_rows(8)
    rows[0]["conversations"] = [HOSTILE_SEED, HOSTILE_ANSWER]
    (workdir / "seed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with running_teacher(faults) as teacher:
        set_env(monkeypatch, user_env(teacher))
        code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "40", "--output", "out", "--concurrency", "16")
        assert code == 0, err
        first = (workdir / "out" / "dropped-v0.1.0.jsonl").read_bytes()
        code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "40", "--output", "out", "--concurrency", "1")
        assert code == 0, err
    kept = workdir / "out" / "dropped-v0.1.0.jsonl"
    assert kept.read_bytes() == first
    assert not list((workdir / "out").glob(".dropped*")) and not list((workdir / "out" / "v0.1.0").rglob("dropped*"))
    items = [json.loads(line) for line in kept.read_text().split("\n") if line]
    m = manifest(workdir / "out" / "v0.1.0")
    filtered = [item for item in items if item["stage"] == "filters"]
    assert {reason: sum(i["reason"] == reason for i in filtered) for reason in m["filters"]["dropped"]} == m["filters"][
        "dropped"
    ]
    for stage in ("instructions", "improvements"):
        counted = m["stages"][stage]["failed"]
        assert counted, stage  # the faults above make each stage drop something
        assert {r: sum(i["stage"] == stage and i["reason"] == r for i in items) for r in counted} == counted
    # Each filter drops at the earliest stage that has what it needs: instruction filters before any
    # response was bought (the item holds its instruction only), the length filter with both texts.
    instruction_level = {"seed_leakage", "near_duplicate", "contamination"}
    assert all(item["instruction"] for item in filtered)
    assert all(item["response"] is None for item in filtered if item["reason"] in instruction_level)
    assert all(item["improved_response"] and item["response"] for item in filtered if item["reason"] == "length")

    page = _review(workdir / "out" / "v0.1.0", workdir / "review.html")
    assert len(page.data()["dropped"]) == len(items)
    assert HOSTILE_SEED in [ref["instruction"] for ref in page.data()["references"]]


def test_a_release_on_the_hub_is_reviewed_like_the_one_on_disk(
    teacher_env: FakeTeacher, workdir: Path, hub: FakeHub, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    (workdir / "seed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lima_rows(6)))
    args = ["--seed", "seed.jsonl", "--size", "24", "--output", "out", "--version", "1.0.0", "--test-size", "0.25"]
    code, _, err = build(capsys, *args, "--push", "--repo-id", "refed-org/refed-review")
    assert code == 0, err
    local = _review(workdir / "out" / "v1.0.0", workdir / "local.html")
    capsys.readouterr()
    assert cli_main(["review", "hf://datasets/refed-org/refed-review@v1.0.0"]) == 0
    out = capsys.readouterr().out
    assert "records:    24" in out and "dropped:    not at hand" in out
    remote = Page((workdir / "review-v1.0.0.html").read_text(encoding="utf-8"))
    assert remote.data()["records"] == local.data()["records"]
    assert {record["split"] for record in remote.data()["records"]} == {"train", "test"}
    assert remote.data()["references"] == local.data()["references"] and remote.data()["dropped"] is None
    assert "hf://datasets/refed-org/refed-review@v1.0.0" in remote.text and str(workdir) not in remote.text

    assert review_main(["hf://datasets/refed-org/refed-review@v9.9.9"]) == 2
    assert "cannot read hf://datasets/refed-org/refed-review@v9.9.9 from the Hub" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_2(synthetic: Path, tmp_path: Path, capsys) -> None:
    assert review_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a REFED release" in err
    assert review_main([str(synthetic), "--output", str(synthetic / "review.html")]) == 2
    assert "inside the release folder" in capsys.readouterr().err and not (synthetic / "review.html").exists()
    assert (
        review_main([str(synthetic), "--output", str(tmp_path / "p.html"), "--dropped", str(tmp_path / "none.jsonl")])
        == 2
    )
    assert "cannot read the dropped items" in capsys.readouterr().err
