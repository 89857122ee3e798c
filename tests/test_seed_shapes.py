"""Every common seed shape, read from local files, mapped to references with nothing lost; every
row that gives no reference counted under its true reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from refed_hf.builder.seed import ColumnChoice, load_seed
from refed_hf.errors import SeedError


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def _refs(seed: datasets.Dataset) -> list[tuple[str, str, str]]:
    return [(row["system"], row["instruction"], row["response"]) for row in seed]


def test_lima_strings(tmp_path: Path) -> None:
    rows = [
        {"conversations": ["Q1", "A1"]},
        {"conversations": ["Q2", "A2", "Q3", "A3"]},
        {"conversations": ["Q4"]},
        {"conversations": ["Q1", "A1"]},
        {"conversations": ["  ", "A5"]},
    ]
    seed, report = load_seed(_write(tmp_path / "lima.jsonl", rows))
    assert _refs(seed) == [("", "Q1", "A1")]
    assert report.shape == "lima" and report.rows == 5 and report.kept == 1
    assert dict(report.dropped) == {"multi_turn": 1, "no_response": 1, "duplicate": 1, "empty": 1}
    assert seed["seed_row"] == [0] and seed["seed_split"] == ["train"]


def test_sharegpt_roles_decide_instruction_and_response(tmp_path: Path) -> None:
    rows = [
        {"conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}]},
        {
            "conversations": [
                {"from": "system", "value": "You are a pirate."},
                {"from": "human", "value": "Q2"},
                {"from": "gpt", "value": "A2"},
            ]
        },
        {"conversations": [{"from": "gpt", "value": "A3"}, {"from": "human", "value": "Q3"}]},  # swapped
        {
            "conversations": [
                {"from": "human", "value": "Q4"},
                {"from": "gpt", "value": "A4"},
                {"from": "human", "value": "Q5"},
                {"from": "gpt", "value": "A5"},
            ]
        },
        {"conversations": [{"from": "user", "value": "Q6"}, {"from": "assistant", "value": "A6"}]},
    ]
    seed, report = load_seed(_write(tmp_path / "sharegpt.jsonl", rows))
    assert report.shape == "sharegpt"
    assert _refs(seed) == [("", "Q1", "A1"), ("You are a pirate.", "Q2", "A2"), ("", "Q6", "A6")]
    assert dict(report.dropped) == {"wrong_roles": 1, "multi_turn": 1}
    assert seed["seed_row"] == [0, 1, 4]


def test_chat_messages_keep_one_leading_system_turn(tmp_path: Path) -> None:
    def turn(role: str, content: str) -> dict[str, str]:
        return {"role": role, "content": content}

    rows = [
        {"messages": [turn("user", "Q1"), turn("assistant", "A1")]},
        {"messages": [turn("system", "Answer in French."), turn("user", "Q2"), turn("assistant", "A2")]},
        {"messages": [turn("assistant", "A3"), turn("user", "Q3")]},
        {"messages": [turn("system", "S"), turn("system", "S2"), turn("user", "Q4"), turn("assistant", "A4")]},
        {"messages": [turn("user", "Q5"), turn("assistant", "A5"), turn("user", "Q6"), turn("assistant", "A6")]},
        {"messages": [turn("user", "Q7")]},
    ]
    seed, report = load_seed(_write(tmp_path / "chat.jsonl", rows))
    assert report.shape == "chat messages"
    assert _refs(seed) == [("", "Q1", "A1"), ("Answer in French.", "Q2", "A2")]
    assert dict(report.dropped) == {"wrong_roles": 2, "multi_turn": 1, "no_response": 1}
    # The system turn is part of the reference: the same pair under another system turn is another reference.
    assert len(set(seed["reference_id"])) == 2


def test_alpaca_input_is_part_of_the_instruction(tmp_path: Path) -> None:
    rows = [
        {
            "instruction": "Summarize the following text.",
            "input": "The cat sat on the mat all day.",
            "output": "A cat rested.",
        },
        {"instruction": "Name a prime.", "input": "", "output": "7"},
    ]
    seed, report = load_seed(_write(tmp_path / "alpaca.jsonl", rows))
    assert report.shape == "alpaca"
    assert _refs(seed) == [
        ("", "Summarize the following text.\n\nThe cat sat on the mat all day.", "A cat rested."),
        ("", "Name a prime.", "7"),
    ]


def test_dolly_context_is_part_of_the_instruction(tmp_path: Path) -> None:
    rows = [
        {
            "instruction": "When was it built?",
            "context": "The bridge was built in 1932.",
            "response": "In 1932.",
            "category": "closed_qa",
        },
        {"instruction": "Give me a colour.", "context": "", "response": "Blue.", "category": "brainstorming"},
    ]
    seed, report = load_seed(_write(tmp_path / "dolly.jsonl", rows))
    assert report.shape == "dolly"
    assert _refs(seed) == [
        ("", "When was it built?\n\nThe bridge was built in 1932.", "In 1932."),
        ("", "Give me a colour.", "Blue."),
    ]


@pytest.mark.parametrize("answer", ["completion", "response"])
def test_prompt_answer_as_strings(tmp_path: Path, answer: str) -> None:
    seed, report = load_seed(
        _write(tmp_path / "strings.jsonl", [{"prompt": "Q1", answer: "A1"}, {"prompt": "Q2", answer: ""}])
    )
    assert report.shape == f"prompt/{answer}"
    assert _refs(seed) == [("", "Q1", "A1")] and dict(report.dropped) == {"empty": 1}


@pytest.mark.parametrize("answer", ["completion", "response"])
def test_prompt_answer_as_conversational_lists(tmp_path: Path, answer: str) -> None:
    rows = [
        {"prompt": [{"role": "user", "content": "Q1"}], answer: [{"role": "assistant", "content": "A1"}]},
        {
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q2"}],
            answer: [{"role": "assistant", "content": "A2"}],
        },
        {"prompt": [{"role": "assistant", "content": "Q3"}], answer: [{"role": "assistant", "content": "A3"}]},
    ]
    seed, report = load_seed(_write(tmp_path / "lists.jsonl", rows))
    assert _refs(seed) == [("", "Q1", "A1"), ("Be brief.", "Q2", "A2")]
    assert dict(report.dropped) == {"wrong_roles": 1}


def test_named_columns_with_context(tmp_path: Path) -> None:
    rows = [{"question": "Translate this.", "passage": "Bonjour", "answer": "Hello", "text": "ignored"}]
    path = _write(tmp_path / "custom.jsonl", rows)
    with pytest.raises(SeedError, match="has no usable columns"):
        load_seed(path)
    seed, report = load_seed(path, columns=ColumnChoice("question", "answer", "passage"))
    assert report.shape == "columns" and _refs(seed) == [("", "Translate this.\n\nBonjour", "Hello")]
    with pytest.raises(SeedError, match="has no column 'nope'; its columns are"):
        load_seed(path, columns=ColumnChoice("question", "nope"))


def test_too_long_references_are_dropped_before_any_call(tmp_path: Path) -> None:
    rows = [{"instruction": "Q", "response": "x" * 399}, {"instruction": "Q", "response": "y" * 400}]
    seed, report = load_seed(_write(tmp_path / "long.jsonl", rows), max_reference_tokens=100)
    # characters / 4: 1 + 399 = 400 chars = 100 tokens fits; 401 chars does not
    assert seed["response"] == ["x" * 399] and dict(report.dropped) == {"too_long": 1}


def test_local_directory_splits(tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    folder.mkdir()
    _write(folder / "train.jsonl", [{"instruction": "T1", "response": "R1"}, {"instruction": "T2", "response": "R2"}])
    _write(folder / "validation.jsonl", [{"instruction": "V1", "response": "W1"}])
    train, report = load_seed(str(folder))
    assert train["instruction"] == ["T1", "T2"] and report.source == "pairs"
    validation, report = load_seed(str(folder), "validation")
    assert validation["instruction"] == ["V1"] and validation["seed_split"] == ["validation"]
    assert report.provenance["split"] == "validation" and len(report.provenance["sha256"]) == 64
    with pytest.raises(
        SeedError, match=r"has no split 'test'; it has \['train', 'validation'\]: pass one to --seed-split"
    ):
        load_seed(str(folder), "test")
    with pytest.raises(SeedError, match=r"has no split 'validation'; it has \['train'\]"):
        load_seed(str(folder / "train.jsonl"), "validation")


def test_published_recipe_and_endpoint_hold_no_local_path_or_url() -> None:
    from refed_hf.recipe import Recipe
    from refed_hf.release.provenance import endpoint_description, include_feedback_text

    recipe = Recipe(
        seed="/home/me/secret/pairs.jsonl",
        output="/srv/out",
        base_url="http://10.0.0.7:8000/v1",
        teacher_gguf="/models/qwen.gguf",
    )
    public = recipe.public_dict()
    assert public["seed"] == "pairs.jsonl" and public["teacher_gguf"] == "qwen.gguf"
    assert "output" not in public and "base_url" not in public
    assert Recipe(seed="GAIR/lima").public_dict()["seed"] == "GAIR/lima"
    assert (
        endpoint_description(False, "http://10.0.0.7:8000/v1", "m", local=False)
        == "an OpenAI-compatible server serving m"
    )
    assert endpoint_description(False, "https://api.openai.com/v1", "m", local=False) == "OpenAI"
    assert endpoint_description(True, None, "deploy", local=False) == "Azure OpenAI"
    assert [include_feedback_text("auto", s) for s in ({"gated": True}, {"private": True}, {"gated": False})] == [
        False,
        False,
        True,
    ]
    assert include_feedback_text("include", {"gated": True}) and not include_feedback_text("omit", {})
