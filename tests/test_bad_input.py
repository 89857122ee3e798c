"""Every user error ends the run before any paid call: exit 2 and one line naming the problem and the fix."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build, set_env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = {
    "missing key": ({"OPENAI_API_KEY": None}, [], "no API key: set OPENAI_API_KEY"),
    "rejected key": ({"OPENAI_API_KEY": "sk-wrong"}, [], "rejected the API key"),
    "unreachable endpoint": ({}, ["--base-url", "http://127.0.0.1:{closed}/v1"], "cannot reach the teacher endpoint"),
    "unknown recipe field": ({}, ["--recipe", "unknown.toml"], "unknown recipe field 'sise'"),
    "bad recipe value": ({}, ["--recipe", "bad.toml"], "bad recipe field 'size' in bad.toml"),
    "not TOML": ({}, ["--recipe", "broken.toml"], "is not valid TOML"),
    "missing recipe": ({}, ["--recipe", "nope.toml"], "recipe file not found: nope.toml"),
    "bad version flag": (
        {},
        ["--version", "1.0"],
        "bad recipe field 'version' in the command line: Value error, must be a semantic version",
    ),
    "version ending in a newline": (
        {},
        ["--version", "2.0.0\n"],
        "bad recipe field 'version' in the command line: Value error, must be a semantic version",
    ),
    "repo id ending in a newline": ({}, ["--repo-id", "org/name\n"], "bad recipe field 'repo_id'"),
    "language ending in a newline": ({}, ["--language", "en\n"], "bad recipe field 'language'"),
    "seed without columns": ({}, ["--seed", "textonly.jsonl"], "has no usable columns (found ['text'])"),
    "missing seed": ({}, ["--seed", "./nowhere.jsonl"], "seed path not found: ./nowhere.jsonl"),
    "seed of multi-turn rows only": ({}, ["--seed", "multi.jsonl"], "has no usable single-turn pair"),
    "azure without variables": (
        {},
        ["--azure"],
        "--azure needs AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_before_any_paid_call(
    case: str, teacher_env: FakeTeacher, workdir: Path, capsys, monkeypatch
) -> None:
    env, extra, message = CASES[case]
    set_env(monkeypatch, env)
    write_lima_seed(workdir / "seed.jsonl", single=3)
    write_lima_seed(workdir / "multi.jsonl", single=0, multi=3)
    (workdir / "textonly.jsonl").write_text(json.dumps({"text": "hello"}) + "\n")
    (workdir / "unknown.toml").write_text("sise = 3\n")
    (workdir / "bad.toml").write_text("size = 0\n")
    (workdir / "broken.toml").write_text("size = = 3\n")
    args = [a.format(closed=_closed_port()) for a in extra]
    if "--seed" not in args:
        args += ["--seed", "seed.jsonl"]

    code, out, err = build(capsys, *args, "--size", "5", "--output", "out")

    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert teacher_env.log.by_schema == {}
    assert not (workdir / "out" / "cache.sqlite").exists()


def test_a_symlinked_lock_is_refused_and_its_target_left_as_it_was(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=3)
    target = workdir / "precious.txt"
    target.write_text("do not overwrite\n")
    (workdir / "out").mkdir()
    (workdir / "out" / ".lock").symlink_to(target)

    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "5", "--output", "out")

    assert code != 0 and target.read_text() == "do not overwrite\n"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "is a symbolic link" in lines[0], err
    assert teacher_env.log.by_schema == {}
