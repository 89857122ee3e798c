"""The paper's filters after the build: the LLM judge in both orders, the subset configs (judge, ROUGE-L
diversity, random) and decontamination against evaluation prompts, with the fake teacher."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

import datasets
import pytest
from rouge_score import rouge_scorer

from refed_hf.builder.decontamination import Decontamination, EvaluationSet, words
from refed_hf.builder.judge import combine
from refed_hf.release.rouge_l import diverse_selection, rouge_l, rouge_score_tokens, unicode_tokens
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build, manifest

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference_rouge_l(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


def _texts(n: int, vocabulary: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocabulary)] + ["The", "of", "Ünïcode", "café", "x-ray", "C++"]
    return [
        " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25))) + rng.choice(["?", ".", "!!", ""])
        for _ in range(n)
    ]


def _load(release: Path, config: str, split: str = "train") -> datasets.Dataset:
    return datasets.load_dataset(str(release), config, split=split)


# --- ROUGE-L ------------------------------------------------------------------------------------


def test_rouge_l_equals_rouge_score_exactly() -> None:
    texts = _texts(400, 40, 1) + ["", "!!!", "Héllo wörld, hello world", "a b c", "c b a"]
    rng = random.Random(2)
    pairs = [(rng.choice(texts), rng.choice(texts)) for _ in range(3000)] + list(itertools.combinations(texts[-5:], 2))
    for a, b in pairs:
        assert rouge_l(a, b) == reference_rouge_l(a, b), (a, b)
        assert rouge_l(a, b) == rouge_l(b, a)


def test_rouge_score_tokenizer_drops_non_ascii_letters_and_the_unicode_one_keeps_them() -> None:
    assert rouge_score_tokens("Café x-ray, Ünïcode") == ["caf", "x", "ray", "n", "code"]
    assert unicode_tokens("Café x-ray, Ünïcode 你好") == ["café", "x", "ray", "ünïcode", "你", "好"]
    assert rouge_l("你好世界", "你好世界") == 0.0  # the package's tokenizer sees no word at all
    assert rouge_l("你好世界", "你好世界", unicode_tokens) == 1.0


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_diverse_selection_keeps_every_pair_below_threshold_and_nothing_else_fits(threshold: float) -> None:
    texts = _texts(160, 12, 3)  # a small vocabulary: many near pairs, so the candidates run out
    order = list(range(len(texts)))
    random.Random(4).shuffle(order)
    chosen = diverse_selection(texts, order, 10_000, threshold, rouge_score_tokens)
    assert chosen[0] == order[0]
    assert len(chosen) < len(texts)
    for i, j in itertools.combinations(chosen, 2):
        assert reference_rouge_l(texts[i], texts[j]) < threshold
    for k in set(range(len(texts))) - set(chosen):
        assert max(reference_rouge_l(texts[k], texts[i]) for i in chosen) >= threshold


def test_diverse_selection_stops_at_the_size_asked_for() -> None:
    texts = _texts(300, 200, 5)
    chosen = diverse_selection(texts, list(range(300)), 25, 0.7, rouge_score_tokens)
    assert len(chosen) == 25
    assert chosen == sorted(chosen)[: len(chosen)] or len(set(chosen)) == 25


# --- The judge's verdict and decontamination, alone -----------------------------------------------


def test_a_side_wins_only_when_it_wins_in_both_orders() -> None:
    assert combine("improved", "improved") == "improved"
    assert combine("original", "original") == "original"
    assert combine("improved", "original") == "tie"
    assert combine("tie", "improved") == "tie"
    assert combine("tie", "tie") == "tie"


def test_decontamination_matches_long_runs_and_whole_short_prompts_after_normalising() -> None:
    long_prompt = "Write a detailed essay about the causes of the French Revolution and its lasting effects on Europe"
    screen = Decontamination(
        [EvaluationSet("set one", [long_prompt]), EvaluationSet("set two", ["Name three   PRIMES!"])], ngram=13
    )
    # 13 consecutive words of the long prompt, recased and repunctuated, inside other text.
    window = " ".join(words(long_prompt)[2:15]).upper().replace(" ", ",  ")
    assert screen.check(f"Please: {window} -- thanks") is not None
    assert screen.check(" ".join(words(long_prompt)[2:14])) is None  # 12 words: chance, not leakage
    assert screen.check("Could you name three primes, please?") is not None
    assert screen.check("Name three prime numbers") is None  # not the short prompt whole
    assert screen.check("Name three primes") == screen.reason(1)
    counted = {screen.reason(1): 2}
    assert [s["contamination_drops"] for s in screen.report(counted)["sources"]] == [0, 2]


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--subsets", "best:100"], "not METHOD:N"),
        (["--subsets", "random:0"], "above 0"),
        (["--subsets", "random:-5"], "above 0"),
        (["--subsets", "judge:100"], "add --judge"),
        (["--rouge-l-threshold", "0"], "rouge_l_threshold"),
        (["--rouge-l-threshold", "1.5"], "rouge_l_threshold"),
        (
            ["--decontaminate", "missing/eval.jsonl"],
            "decontamination source missing/eval.jsonl: not found: missing/eval.jsonl (check --decontaminate)",
        ),
    ],
)
def test_bad_selection_input_is_one_line_and_exit_2_before_any_call(
    teacher_env: FakeTeacher, workdir: Path, capsys, flags: list[str], says: str
) -> None:
    seed = write_lima_seed(workdir / "seed.jsonl", 10)
    code, _, err = build(capsys, "--seed", str(seed), "--size", "8", *flags)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and says in err
    assert teacher_env.log.requests == 0


def test_an_evaluation_set_without_a_prompt_column_names_the_flag(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    seed = write_lima_seed(workdir / "seed.jsonl", 10)
    evaluation = workdir / "eval.jsonl"
    evaluation.write_text(json.dumps({"id": 1, "score": 2}) + "\n")
    code, _, err = build(capsys, "--seed", str(seed), "--size", "8", "--decontaminate", str(evaluation))
    assert code == 2 and "--decontaminate-column" in err
    code, _, err = build(
        capsys, "--seed", str(seed), "--size", "8", "--decontaminate", str(evaluation), "--decontaminate-column", "q"
    )
    assert code == 2 and "no column 'q'" in err
    assert teacher_env.log.requests == 0


# --- Builds ---------------------------------------------------------------------------------------


def _planted_prompts(instructions: list[str]) -> tuple[list[str], list[str]]:
    """Evaluation prompts that catch three instructions: one whole, one by a 13-word run inside other
    text, one by a short prompt it contains whole (its unique tag). Returns (prompts, caught)."""
    whole, run, short = instructions[0], instructions[5], instructions[9]
    run_words = words(run)[1:14]
    tag = re.search(r"Instruction \d+ \[[0-9a-f]+\]", short)
    assert len(run_words) == 13 and tag is not None
    prompts = [whole.upper(), "Intro text. " + " ".join(run_words) + " And more.", tag.group(0) + "!"]
    return prompts, [whole, run, short]


def _contains(instruction: str, prompt: str, n: int = 13) -> bool:
    """The reference check, written plainly: a shared run of n words, or a short prompt inside whole."""
    a, b = words(instruction), words(prompt)
    k = min(n, len(b))
    grams = {b[i : i + k] for i in range(len(b) - k + 1)}
    return any(a[i : i + k] in grams for i in range(len(a) - k + 1))


def test_judged_build_with_subsets_and_decontamination(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    seed = write_lima_seed(workdir / "seed.jsonl", 150)
    # The fake teacher answers the same request the same way: a small build shows instructions the big one makes.
    code, _, _ = build(capsys, "--seed", str(seed), "--size", "20", "--output", str(workdir / "probe"))
    assert code == 0
    probe = _load(workdir / "probe" / "v0.1.0", "default")["instruction"]
    prompts, caught = _planted_prompts(probe)
    evaluation = workdir / "eval.jsonl"
    evaluation.write_text("".join(json.dumps({"instruction": p, "output": "x"}) + "\n" for p in prompts))

    code, out, err = build(
        capsys,
        "--seed", str(seed), "--size", "2000", "--test-size", "0.1", "--output", str(workdir / "out"),
        "--judge", "--subsets", "judge:500,rouge-l:500,random:500", "--decontaminate", str(evaluation),
    )  # fmt: skip
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    m = manifest(release)
    default = datasets.concatenate_datasets([_load(release, "default"), _load(release, "default", "test")])

    # Decontamination: the planted instructions are gone, every drop counted, the size still exact.
    assert m["records"] == len(default) == 2000
    assert not any(_contains(text, p) for text in default["instruction"] for p in prompts)
    drops = m["filters"]["contamination"]["sources"][0]
    assert drops["contamination_drops"] == m["filters"]["dropped"]["contamination"] >= len(caught)
    assert drops["source"].startswith("a local file, sha256 ") and str(workdir) not in json.dumps(m)

    # The judge: both orders asked, the column follows them, the manifest's win rate is the data's share.
    verdicts = default["judge"]
    assert all(v is not None for v in verdicts)
    for v in verdicts:
        assert v["preferred"] == (v["original_first"] if v["original_first"] == v["improved_first"] else "tie")
        assert v["reason_original_first"] and v["reason_improved_first"]
    assert teacher_env.log.by_schema["JudgeVerdict"] == 2 * 2000
    improved = sum(v["preferred"] == "improved" for v in verdicts)
    assert 0 < improved < 2000
    assert m["judge"]["win_rate"] == round(improved / 2000, 4)
    assert m["judge"]["tie"] == sum(v["preferred"] == "tie" for v in verdicts)
    assert m["judge"]["disagreements"] == sum(v["original_first"] != v["improved_first"] for v in verdicts)

    # Preference holds exactly the confirmed pairs.
    pairs = datasets.concatenate_datasets([_load(release, "preference"), _load(release, "preference", "test")])
    confirmed = [(r["instruction"], r["improved_response"]) for r in default if r["judge"]["preferred"] == "improved"]
    assert [(p["prompt"][-1]["content"], p["chosen"][0]["content"]) for p in pairs] == confirmed

    # The subsets: size and rule of each, from split train only.
    train = _load(release, "default")
    by_instruction = {r["instruction"]: r for r in train}
    test_references = set(_load(release, "default", "test")["reference_id"])
    subsets = {s["config"]: s for s in m["subsets"]}
    for name in ("sft-judge-500", "sft-rouge-l-500", "sft-random-500"):
        rows = _load(release, name)
        assert len(rows) == subsets[name]["rows"] == 500
        assert not set(rows["reference_id"]) & test_references
        assert all(r["messages"][-2]["content"] in by_instruction for r in rows)
    judged = _load(release, "sft-judge-500")
    assert all(by_instruction[r["messages"][-2]["content"]]["judge"]["preferred"] == "improved" for r in judged)
    diverse = [r["messages"][-2]["content"] for r in _load(release, "sft-rouge-l-500")]
    for a, b in itertools.combinations(diverse, 2):
        assert reference_rouge_l(a, b) < 0.7

    card = (release / "README.md").read_text(encoding="utf-8")
    assert f"{m['judge']['win_rate'] * 100:.1f}%" in card
    assert f"{len(confirmed)} judge-confirmed pairs" in card
    for name in subsets:
        assert f'"{name}"' in card and f"- config_name: {name}" in card
    assert drops["source"] in card
    assert "win rate" in out or "judge" in out


def test_no_response_is_paid_for_a_contaminated_instruction(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    seed = write_lima_seed(workdir / "seed.jsonl", 40)
    code, _, _ = build(capsys, "--seed", str(seed), "--size", "20", "--output", str(workdir / "probe"))
    assert code == 0
    prompts, caught = _planted_prompts(_load(workdir / "probe" / "v0.1.0", "default")["instruction"])
    evaluation = workdir / "eval.jsonl"
    evaluation.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    teacher_env.log.prompts.clear()
    code, _, err = build(
        capsys,
        "--seed",
        str(seed),
        "--size",
        "20",
        "--output",
        str(workdir / "out"),
        "--decontaminate",
        str(evaluation),
    )
    assert code == 0, err
    assert manifest(workdir / "out" / "v0.1.0")["records"] == 20
    asked = teacher_env.log.prompts
    assert asked  # a fresh output: every call was made
    for instruction in caught:  # neither its response nor its improvement was asked for
        assert not any(instruction in prompt for prompt in asked)


def test_adding_the_judge_and_subsets_to_a_finished_build_pays_only_for_the_judge(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    seed = write_lima_seed(workdir / "seed.jsonl", 30)
    args = ["--seed", str(seed), "--size", "40"]
    assert build(capsys, *args)[0] == 0
    first = dict(teacher_env.log.by_schema)
    assert "JudgeVerdict" not in first
    code, _, err = build(capsys, *args, "--judge", "--subsets", "judge:10,rouge-l:10,random:10")
    assert code == 0, err
    new = {schema: n - first.get(schema, 0) for schema, n in teacher_env.log.by_schema.items()}
    assert {schema: n for schema, n in new.items() if n} == {"JudgeVerdict": 80}
    requests = teacher_env.log.requests
    code, _, _ = build(capsys, *args, "--judge", "--subsets", "judge:10,rouge-l:10,random:10")
    assert code == 0 and teacher_env.log.requests == requests  # everything from the cache
    m = manifest(workdir / "refed-release" / "v0.1.0")
    assert m["judge"]["judged"] == 40
    assert m["teacher"]["this_run"]["by_stage"]["judge"]["cache_hits"] == 80


def test_a_judge_model_of_its_own_is_priced_at_its_own_rates(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    from refed_hf.teacher.prices import Usage, prices_for

    seed = write_lima_seed(workdir / "seed.jsonl", 4)
    code, _, err = build(capsys, "--seed", str(seed), "--size", "12", "--judge", "--judge-model", "gpt-4o")
    assert code == 0, err
    m = manifest(workdir / "refed-release" / "v0.1.0")
    teacher, judge = prices_for("gpt-4o-mini"), prices_for("gpt-4o")
    assert teacher is not None and judge is not None

    def used(counts: dict) -> Usage:
        return Usage(counts["used_prompt_tokens"], counts["used_cached_tokens"], counts["used_completion_tokens"])

    by_stage = m["teacher"]["this_run"]["by_stage"]
    assert by_stage["judge"]["answers"] > 0
    expected = sum((judge if stage == "judge" else teacher).cost(used(counts)) for stage, counts in by_stage.items())
    assert m["estimated_cost_usd"] == pytest.approx(expected, abs=1e-6)
    # At the teacher's rates the judge's calls would cost far less: the difference is the point.
    assert m["estimated_cost_usd"] > sum(teacher.cost(used(c)) for c in by_stage.values()) * 1.5

    code, _, err = build(
        capsys, "--seed", str(seed), "--size", "12", "--judge", "--judge-model", "my-own-judge", "--max-budget", "1"
    )
    assert code == 2 and "needs the price of the judge model 'my-own-judge'" in err
