"""Trust boundaries: a recipe from the Hub shapes data and nothing else; the output folder, the push
and the card hold only what they should. Each test plays one hostile world against the real CLI, the
Hub emulator and the fake teacher."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from refed_hf.published_recipe import recipe_toml
from refed_hf.recipe import FROM_HUB_FIELDS, Recipe, load_recipe
from tests.conftest import HUB_TOKEN
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HOSTILE = "stranger/recipes"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def trusting(teacher_env: FakeTeacher, workdir: Path, hub: FakeHub) -> FakeHub:
    write_lima_seed(workdir / "seed.jsonl", single=4)
    return hub


# --- a fetched recipe is data, not configuration ---------------------------------------------------


def test_a_fetched_recipe_setting_where_keys_files_pushes_or_money_go_is_refused(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    hostile = (
        'base_url = "http://127.0.0.1:9/v1"\nseed = "GAIR/lima"\noutput = "~/projects"\nversion = "9.9.9"\n'
        'repo_id = "victim/refed"\nmax_budget = 1000.0\n[prices]\nprompt = 0.0\ncompletion = 0.0\n'
    )
    trusting.add_repo(HOSTILE, {"bad.toml": hostile.encode()})

    code, _, err = build(capsys, "--recipe", f"hf://datasets/{HOSTILE}/bad.toml", "--output", "out")

    line = _one_error_line(err)
    assert code == 2
    assert "base_url, max_budget, output, prices, repo_id" in line and "comes from the Hub" in line
    assert teacher_env.log.requests == 0
    assert not (workdir / "out").exists()


def test_a_fetched_recipe_naming_a_local_seed_needs_the_users_own_seed(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    trusting.add_repo(HOSTILE, {"local.toml": b'seed = "~/.kaggle/kaggle.json"\nsize = 4\n'})
    ref = f"hf://datasets/{HOSTILE}/local.toml"

    code, _, err = build(capsys, "--recipe", ref, "--output", "out")
    line = _one_error_line(err)
    assert code == 2 and "names a local seed 'kaggle.json': pass your own copy with --seed PATH" in line
    assert teacher_env.log.requests == 0

    recipe = load_recipe(ref, {"seed": "seed.jsonl"})
    assert recipe.seed == "seed.jsonl" and recipe.size == 4


def test_a_fetched_recipe_naming_a_local_evaluation_set_needs_the_users_own(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    (workdir / "evals.jsonl").write_text('{"prompt": "Name three primes"}\n')
    trusting.add_repo(HOSTILE, {"evals.toml": b'decontaminate = ["tatsu-lab/alpaca_eval", "~/.ssh/id_rsa"]\n'})
    ref = f"hf://datasets/{HOSTILE}/evals.toml"

    code, _, err = build(capsys, "--recipe", ref, "--seed", "seed.jsonl", "--output", "out")
    line = _one_error_line(err)
    assert code == 2 and "names a local evaluation set 'id_rsa': pass your own copies with --decontaminate" in line
    assert teacher_env.log.requests == 0

    recipe = load_recipe(ref, {"seed": "seed.jsonl", "decontaminate": ["evals.jsonl"]})
    assert recipe.decontaminate == ["evals.jsonl"]


def test_a_published_recipe_still_rebuilds_from_the_hub_and_flags_win_both_ways(
    trusting: FakeHub, workdir: Path
) -> None:
    for recipe in (Recipe(), Recipe(offline=True), Recipe(azure=True, teacher_gguf="m.gguf")):
        assert set(tomllib.loads(recipe_toml(recipe))) <= FROM_HUB_FIELDS
    published = recipe_toml(Recipe(seed="GAIR/lima", size=40, refusal_filter=False, azure=True))
    trusting.add_repo("someone/refed", {"recipe.toml": published.encode()})
    ref = "hf://datasets/someone/refed/recipe.toml"

    assert load_recipe(ref, {}).refusal_filter is False
    assert load_recipe(ref, {"refusal_filter": True}).refusal_filter is True
    (workdir / "mine.toml").write_text("azure = true\nbase_url = 'http://127.0.0.1:1/v1'\n")
    assert load_recipe("mine.toml", {}).azure is True  # a local file is the user's own: anything goes
    from refed_hf.build import _overrides, _parser

    assert load_recipe("mine.toml", _overrides(_parser().parse_args(["--no-azure"]))).azure is False


# --- the output folder is the build's, and only the build's ---------------------------------------


def test_a_planted_folder_named_like_a_release_or_a_leftover_is_never_touched(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    out = workdir / "out"
    (out / "v9.9.9").mkdir(parents=True)
    (out / "v9.9.9" / "thesis.txt").write_text("years of work")
    (out / ".work-notes").mkdir()
    (out / ".work-notes" / "todo.txt").write_text("mine")
    (out / ".v-drafts.partial").mkdir()

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "4", "--version", "9.9.9", "--output", "out")

    line = _one_error_line(err)
    assert code == 2 and "v9.9.9 exists and is not a release this tool wrote" in line
    assert (out / "v9.9.9" / "thesis.txt").read_text() == "years of work"
    assert (out / ".work-notes" / "todo.txt").read_text() == "mine" and (out / ".v-drafts.partial").is_dir()
    assert teacher_env.log.requests == 0
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "4", "--version", "1.0.0", "--output", "out")
    assert code == 0, err
    assert (out / ".work-notes" / "todo.txt").read_text() == "mine" and (out / ".v-drafts.partial").is_dir()


def test_a_symlinked_lock_is_refused_and_its_target_left_alone(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    target = workdir / "precious.txt"
    target.write_text("do not overwrite")
    (workdir / "out").mkdir()
    (workdir / "out" / ".lock").symlink_to(target)

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "4", "--output", "out")

    line = _one_error_line(err)
    assert code == 2 and ".lock is a symbolic link" in line
    assert target.read_text() == "do not overwrite"
    assert teacher_env.log.requests == 0


def test_a_run_that_made_no_record_keeps_the_earlier_release_and_publishes_nothing(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys, monkeypatch
) -> None:
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "8", "--output", "out")
    assert code == 0, err
    good = (workdir / "out" / "v0.1.0" / "manifest.json").read_text()
    teacher_env.faults.rate_content_filter = 1.0  # every call now fails

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "8", "--random-seed", "5", "--output", "out")

    line = _one_error_line(err)
    assert code == 1 and "no record was made (content_filter" in line and "earlier release" in line
    assert (workdir / "out" / "v0.1.0" / "manifest.json").read_text() == good

    from refed_hf.job import JobResult, publish_release
    from refed_hf.release.manifest import read

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    release = workdir / "out" / "v0.1.0"
    empty = read(release).model_copy(update={"records": 0})
    from refed_hf.errors import PublishError

    with pytest.raises(PublishError, match="0 records is never published"):
        publish_release(JobResult(release, empty, built=False), load_recipe(None, {"repo_id": "me/refed"}), False)
    assert "me/refed" not in trusting.repos


# --- --push uploads what the manifest lists ----------------------------------------------------------


def test_push_uploads_only_the_files_the_release_wrote(trusting: FakeHub, workdir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "8", "--output", "out")
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    wrote = sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file())
    secret = workdir / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY-----")
    (release / ".env").write_text("OPENAI_API_KEY=sk-live")
    (release / "assets" / "id_rsa").symlink_to(secret)
    (release / "data" / "default" / "notes.txt").write_text("stray")

    code, out, err = build(
        capsys, "--seed", "seed.jsonl", "--size", "8", "--output", "out", "--dry-run", "--repo-id", "me/trust"
    )
    assert code == 0, err
    listed = sorted(line.split()[-1] for line in out.splitlines() if line.startswith("  add "))
    assert listed == wrote
    code, _, err = build(
        capsys, "--seed", "seed.jsonl", "--size", "8", "--output", "out", "--push", "--repo-id", "me/trust"
    )
    assert code == 0, err
    assert sorted(trusting.files_at("me/trust", "v0.1.0")) == wrote


# --- numbers from the outside are checked ------------------------------------------------------------


def test_negative_usage_is_a_bad_answer_that_the_budget_still_charges(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    teacher_env.faults.negative_usage = True

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "40", "--output", "out", "--max-budget", "0.002")

    line = _one_error_line(err)
    assert code == 3 and "stopped at --max-budget" in line, err
    # Charged at the estimate, never negative: the budget stops the build after a few calls.
    assert 0 < teacher_env.log.requests <= 10
    assert not (workdir / "out" / "v0.1.0").exists()


def test_usage_that_cannot_be_true_is_kept_as_a_bad_answer_without_tokens() -> None:
    from openai.types.chat import ChatCompletion

    from refed_hf.teacher.transport import BAD_USAGE, answer_of

    def completion(prompt: int, completion_tokens: int, cached: int) -> ChatCompletion:
        return ChatCompletion.model_validate(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            }
        )

    for bad in ((-5, 10, 0), (5, -10, 0), (10**12, 1, 0), (10, 10, 11)):
        answer = answer_of(completion(*bad))
        assert answer.finish_reason == BAD_USAGE
        assert (answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens) == (0, 0, 0)
    good = answer_of(completion(100, 20, 64))
    assert (good.finish_reason, good.prompt_tokens, good.completion_tokens, good.cached_tokens) == ("stop", 100, 20, 64)


# --- the card renders data as data -------------------------------------------------------------------

HOSTILE_TEXT = "Look:\n```\n<img src=http://evil.example/x.png>\n<script>alert(1)</script>\n````` and `` more"


def test_a_seed_row_with_a_fence_a_script_and_an_image_renders_as_text_on_the_card(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    import json

    from markdown_it import MarkdownIt

    rows = [{"conversations": [f"{HOSTILE_TEXT} {i}", f"{HOSTILE_TEXT} answer {i}"], "source": "x"} for i in range(3)]
    (workdir / "seed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "6", "--output", "out")

    assert code == 0, err
    card = (workdir / "out" / "v0.1.0" / "README.md").read_text(encoding="utf-8")
    assert "<script>" in card  # the seed's text is in the card, shown as it is
    html = MarkdownIt("commonmark").render(card.split("---", 2)[2])
    assert "<script" not in html and not re.search(r"<img[^>]*evil", html)  # the card's own figures stay
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=http://evil.example/x.png&gt;" in html


def test_fences_and_code_spans_outlast_any_backtick_run() -> None:
    from markdown_it import MarkdownIt

    from refed_hf.dataset_card.render import code_span, fenced

    for text in ("plain", "```", "a ```` b\n`````\n<b>x</b>", "`edge`"):
        html = MarkdownIt("commonmark").render(fenced(text, "yaml") + "\n\nafter <b>bold</b>\n")
        assert html.count("<pre>") == 1 and "after <b>bold</b>" in html
        assert "<b>x</b>" not in html.split("</pre>")[0]
        span = MarkdownIt("commonmark").renderInline(code_span(text))
        assert span.startswith("<code>") and span.endswith("</code>") and span.count("<code>") == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("version", "2.0.0\n", "must be a semantic version"),
        ("repo_id", "me/refed\n", "must be ORG/NAME"),
        ("language", "en\n", "must be a language code"),
        ("repo_id", "a..b/c", "is not a name the Hub accepts"),
        ("repo_id", "me/x.git", "is not a name the Hub accepts"),
        ("repo_id", "mé/refed", "must be ORG/NAME"),
        ("license", "my-own", "must be a license id the Hub lists"),
        ("teacher_model", "gpt-4o`<script>", "must be a model or deployment name"),
        ("test_size", float("inf"), "must be a fraction below 1"),
        ("size", 10**30, "less than or equal to"),
        ("max_budget", float("inf"), "finite number"),
        ("request_timeout", float("inf"), "less than or equal to"),
    ],
)
def test_names_and_numbers_from_outside_are_checked_to_their_end(field: str, value: object, message: str) -> None:
    from refed_hf.errors import RecipeError

    with pytest.raises(RecipeError, match=message):
        load_recipe(None, {field: value})


# --- one line, always ----------------------------------------------------------------------------------


def test_the_hub_unreachable_during_push_is_one_line(trusting: FakeHub, workdir: Path, capsys) -> None:
    from tests.helpers import build_process

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "4", "--output", "out")
    assert code == 0, err
    proc = build_process(
        {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": HUB_TOKEN, "HF_HOME": str(workdir / "hf")},
        workdir,
        *("--seed", "seed.jsonl", "--size", "4", "--output", "out", "--push", "--repo-id", "me/refed"),
    )
    _, err = proc.communicate(timeout=120)
    line = _one_error_line(err)
    assert proc.returncode == 2 and "cannot reach the Hub" in line, err


def test_an_endpoint_with_credentials_in_its_url_is_never_echoed(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    url = "http://bob:hunter2@127.0.0.1:9/v1?api-key=topsecret"

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "2", "--output", "out", "--base-url", url)

    line = _one_error_line(err)
    assert code == 2 and "cannot reach the teacher endpoint http://127.0.0.1:9/v1" in line
    assert "hunter2" not in err and "bob" not in err and "topsecret" not in err


def test_a_key_revoked_mid_run_prints_one_line_and_nothing_after(
    teacher_env: FakeTeacher, workdir: Path, monkeypatch
) -> None:
    from tests.conftest import TEST_KEY
    from tests.helpers import build_process

    write_lima_seed(workdir / "seed.jsonl", single=6)
    teacher_env.faults.revoke_after = 6
    proc = build_process(
        {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": teacher_env.url},
        workdir,
        *("--seed", "seed.jsonl", "--size", "60", "--output", "out", "--concurrency", "16"),
    )
    _, err = proc.communicate(timeout=180)
    line = _one_error_line(err)
    assert proc.returncode == 2 and "rejected the API key" in line, err


def test_an_endpoint_url_that_cannot_be_parsed_is_one_line_without_its_credentials(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    for url in ("http://bob:hunter2@127.0.0.1:abc/v1", "http://bob:hunter2@[::1/v1", "ftp://127.0.0.1/v1"):
        code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "2", "--output", "out", "--base-url", url)
        line = _one_error_line(err)
        assert code == 2 and "is not an http(s) URL with a host and a valid port: check --base-url" in line, err
        assert "hunter2" not in err and "bob" not in err
    assert teacher_env.log.requests == 0


@pytest.mark.parametrize("flags", [["--size", "1e30"], ["--size", "4.5"], ["--no-such-flag"]])
def test_a_flag_argparse_refuses_is_one_line_not_the_usage(flags: list[str], workdir: Path, capsys) -> None:
    from refed_hf.build import main

    with pytest.raises(SystemExit) as stopped:
        main(flags)
    err = capsys.readouterr().err
    line = _one_error_line(err)
    assert stopped.value.code == 2 and "(see python -m refed_hf.build --help)" in line and "usage:" not in err


def test_a_seed_that_is_not_utf8_is_one_line_before_any_call(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    (workdir / "latin1.jsonl").write_bytes(b'{"conversations": ["caf\xe9?", "A caf\xe9."]}\n')
    (workdir / "utf16.jsonl").write_bytes('{"conversations": ["a", "b"]}\n'.encode("utf-16"))
    for seed, byte in (("latin1.jsonl", "byte 23 is 0xe9"), ("utf16.jsonl", "byte 0 is 0xff")):
        code, _, err = build(capsys, "--seed", seed, "--size", "2", "--output", "out")
        line = _one_error_line(err)
        assert code == 2 and f"{seed} is not UTF-8 text ({byte}): save it as UTF-8" in line, err
    assert teacher_env.log.requests == 0


def _damage(cache: Path, how: str) -> None:
    import sqlite3

    if how == "not a database":
        cache.write_bytes(bytes(range(256)) * 64)
    elif how == "newer schema":
        with sqlite3.connect(cache) as db:
            db.execute("PRAGMA user_version=99")
    else:  # pages garbled past the header: the file opens, its table cannot be read
        data = bytearray(cache.read_bytes())
        data[4096:] = bytes(len(data) - 4096)
        data[4096:4200] = b"\xff" * 104
        cache.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("not a database", "is damaged or is not a refed-hf cache"),
        ("damaged pages", "is damaged or is not a refed-hf cache"),
        ("newer schema", "was made by a newer version of refed-hf (cache schema 99"),
    ],
)
def test_a_cache_file_this_version_cannot_use_stops_the_build_before_any_call(
    how: str, says: str, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=3)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "4", "--output", "out", "--version", "0.1.0")
    assert code == 0, err
    cache = workdir / "out" / "cache.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{cache}{extra}").unlink(missing_ok=True)
    _damage(cache, how)
    before = teacher_env.log.requests

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "4", "--output", "out", "--version", "0.2.0")

    line = _one_error_line(err)
    assert code == 2 and says in line and "free space" not in line, err
    assert teacher_env.log.requests == before
    assert not (workdir / "out" / "v0.2.0").exists()
