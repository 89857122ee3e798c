"""The small pieces whose arithmetic and edge cases the end-to-end tests do not pin down."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx2
import openai
import pytest

from refed_hf.builder.plan import quotas, reference_order, split_quota
from refed_hf.features import teacher_schema
from refed_hf.recipe import load_recipe
from refed_hf.schemas import GeneratedInstructions, Improvement
from refed_hf.teacher.accounting import CallCounts
from refed_hf.teacher.answers import InvalidAnswer, parse_answer
from refed_hf.teacher.budget import BudgetGuard, OverBudget
from refed_hf.teacher.cache import CachedAnswer
from refed_hf.teacher.estimates import CHARS_PER_TOKEN, CompletionEstimates, prompt_tokens
from refed_hf.teacher.limiter import CallLimiter
from refed_hf.teacher.prices import ModelPrices, Pricing, Usage, prices_for
from refed_hf.teacher.retries import Backoff, retryable, server_delay
from refed_hf.teacher.transport import Call


def test_cost_is_tokens_times_price_per_million_cached_and_batch_rates_included() -> None:
    mini = prices_for("gpt-4o-mini")
    assert mini is not None and prices_for("gpt-4o-mini-2024-07-18") == mini
    assert mini.cost(Usage(1_000_000, 0, 0)) == pytest.approx(0.15)
    assert mini.cost(Usage(0, 0, 2_000_000)) == pytest.approx(1.20)
    # 400k of the 1M prompt tokens were cached: 600k at $0.15/M + 400k at $0.075/M.
    assert mini.cost(Usage(1_000_000, 400_000, 0)) == pytest.approx(0.09 + 0.03)
    assert mini.cost(Usage(1_000_000, 400_000, 1_000_000), batch=True) == pytest.approx((0.09 + 0.03 + 0.60) / 2)
    overridden = prices_for("gpt-4o", {"prompt": 2.0})
    assert overridden is not None and (overridden.prompt, overridden.completion) == (2.0, 10.0)
    assert overridden.cost(Usage(200_000, 0, 100_000)) == pytest.approx(0.4 + 1.0)


def test_unknown_model_has_no_price_unless_the_recipe_gives_one() -> None:
    assert prices_for("my-azure-deployment") is None
    assert prices_for("my-azure-deployment", {"prompt": 1.0}) is None
    custom = prices_for("my-azure-deployment", {"prompt": 1.0, "completion": 4.0})
    assert custom is not None
    # No cached discount assumed; the Batch API at half the direct rates.
    assert (custom.cached_prompt, custom.batch_prompt, custom.batch_completion) == (1.0, 0.5, 2.0)


def test_quotas_sum_to_the_wanted_size_and_cap_at_twenty() -> None:
    assert quotas(45, 10) == [20, 20, 5]
    assert quotas(40, 10) == [20, 20]
    assert quotas(100, 3) == [20, 20, 20]
    assert split_quota(20) == {"subject": 10, "skill": 10}
    assert split_quota(5) == {"subject": 3, "skill": 2}
    assert split_quota(1) == {"subject": 1, "skill": 0}


def test_reference_order_depends_on_ids_and_seed_not_on_row_order() -> None:
    ids = [f"id{i:02d}" for i in range(30)]
    order = [ids[i] for i in reference_order(ids, 7)]
    shuffled = list(reversed(ids))
    assert [shuffled[i] for i in reference_order(shuffled, 7)] == order
    assert [ids[i] for i in reference_order(ids, 8)] != order
    assert sorted(order) == ids


def test_answers_tolerate_fences_prose_and_trailing_commas_but_not_truncation() -> None:
    fenced = 'Here you go:\n```json\n{"instructions": ["a", "b",],}\n```'
    assert parse_answer(fenced, GeneratedInstructions).instructions == ["a", "b"]
    with pytest.raises(InvalidAnswer, match="not valid JSON"):
        parse_answer('{"instructions": ["a", "b', GeneratedInstructions)
    with pytest.raises(InvalidAnswer, match="cut off"):
        parse_answer('{"instructions": ["a"]}', GeneratedInstructions, finish_reason="length")
    with pytest.raises(InvalidAnswer, match="field instructions"):
        parse_answer('{"instructions": ["  "]}', GeneratedInstructions)


def test_teacher_schema_is_strict_and_inlined() -> None:
    schema = teacher_schema(Improvement)
    assert "$defs" not in schema and "$ref" not in str(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["analysis", "implementation_strategy", "improved_response"]
    analysis = schema["properties"]["analysis"]
    assert analysis["additionalProperties"] is False and analysis["required"] == list(analysis["properties"])


def _status_error(status: int, headers: dict[str, str], body: dict | None = None) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, headers=headers, request=request)
    cls = {429: openai.RateLimitError, 400: openai.BadRequestError, 503: openai.InternalServerError}[status]
    return cls("boom", response=response, body=body)


def test_retry_after_headers_are_honoured_and_4xx_are_not_retried() -> None:
    assert server_delay(_status_error(429, {"retry-after-ms": "1500"})) == 1.5
    assert server_delay(_status_error(503, {"Retry-After": "3"})) == 3.0
    assert server_delay(_status_error(429, {})) is None
    assert retryable(_status_error(429, {})) and retryable(_status_error(503, {}))
    assert not retryable(_status_error(400, {}))
    assert not retryable(_status_error(400, {}, {"error": {"code": "content_filter"}}))

    class State:
        attempt_number = 5

        class outcome:  # noqa: N801 - the shape tenacity hands to a wait function
            @staticmethod
            def exception() -> BaseException:
                return _status_error(429, {"Retry-After": "2"})

    assert 2.0 <= Backoff()(State) <= 2.1  # type: ignore[arg-type]


def test_limiter_slow_starts_then_follows_a_429_down_to_what_the_server_takes() -> None:
    limiter = CallLimiter(max_concurrency=256, max_rpm=None, max_tpm=None, initial_window=16)
    assert limiter.window == 16
    for _ in range(16):
        limiter.on_success()
    assert limiter.window == 32
    for _ in range(32):
        limiter.on_success()
    assert limiter.window == 64

    async def burst() -> None:
        holders = [limiter.slot() for _ in range(64)]  # kept: a collected one would give its place back
        await asyncio.gather(*(holder.__aenter__() for holder in holders))
        assert limiter.in_flight == 64
        limiter.on_rate_limited()  # a 429 while 64 are in flight: the server takes fewer
        assert limiter.window == 63 and not limiter.slow_start

    asyncio.run(burst())
    for _ in range(63):
        limiter.on_success()
    assert limiter.window == 64  # congestion avoidance: one more per window of successes


def test_limiter_paces_calls_under_max_rpm() -> None:
    limiter = CallLimiter(max_concurrency=100, max_rpm=615, max_tpm=None, initial_window=100)  # 10 a second

    async def twenty_calls() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one() -> None:
            async with limiter.slot():
                pass

        await asyncio.gather(*(one() for _ in range(20)))
        return loop.time() - start

    elapsed = asyncio.run(twenty_calls())
    assert 0.95 <= elapsed <= 1.5  # 10 in the first second's burst, then 10 a second


def test_recipe_file_and_flags(tmp_path: Path) -> None:
    recipe_file = tmp_path / "recipe.toml"
    recipe_file.write_text('size = 300\nteacher-model = "gpt-4o"\n[prices]\nprompt = 2.5\ncompletion = 10\n')
    recipe = load_recipe(recipe_file, {"size": 40})
    assert (recipe.size, recipe.teacher_model, recipe.prices.prompt) == (40, "gpt-4o", 2.5)
    assert "api_key" not in str(recipe.public_dict()).lower()


def test_large_tables_are_written_in_shards_that_load_back_in_order(tmp_path: Path) -> None:
    import datasets

    from refed_hf.release.writer import _write_parquet

    table = datasets.Dataset.from_dict({"text": [f"row {i} " + "x" * 200 for i in range(3000)]})
    written = _write_parquet(table, tmp_path / "data", max_shard_bytes=table.data.nbytes // 4)
    names = sorted(p.name for p in (tmp_path / "data").glob("*.parquet"))
    assert written["shards"] == 5 and names[0] == "train-00000-of-00005.parquet" and len(names) == 5
    loaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "data" / "train-*.parquet"), split="train")
    assert loaded["text"] == table["text"]


def test_capped_schemas_bound_every_string_and_list() -> None:
    from refed_hf.teacher.local_teacher import cap_schema

    capped = cap_schema(teacher_schema(Improvement))
    analysis = capped["properties"]["analysis"]["properties"]
    assert capped["properties"]["improved_response"]["maxLength"] == 900
    # Asked first (the grammar follows this order), at least 120 characters; the same fields either way.
    assert list(capped["properties"])[0] == capped["required"][0] == "improved_response"
    assert capped["properties"]["improved_response"]["minLength"] == 120
    assert sorted(capped["properties"]) == sorted(teacher_schema(Improvement)["properties"])
    assert sorted(capped["required"]) == sorted(teacher_schema(Improvement)["required"])
    assert all(p["maxItems"] == 3 and p["items"]["maxLength"] == 120 for p in analysis.values())
    instructions = cap_schema(teacher_schema(GeneratedInstructions))["properties"]["instructions"]
    assert (instructions["minItems"], instructions["maxItems"]) == (10, 10)
    assert "maxLength" not in str(teacher_schema(Improvement))  # remote teachers get the plain schema


def test_batch_input_files_split_at_the_line_size_and_token_limits() -> None:
    from refed_hf.teacher.batch import _chunks

    lines = [b"x" * 40] * 5  # 40 bytes, about 10 tokens each
    assert _chunks(lines, max_lines=2, max_bytes=10_000, max_tokens=None) == [[0, 1], [2, 3], [4]]
    assert _chunks(lines, max_lines=100, max_bytes=120, max_tokens=None) == [[0, 1, 2], [3, 4]]
    assert _chunks(lines, max_lines=100, max_bytes=10_000, max_tokens=25) == [[0, 1], [2, 3], [4]]
    assert _chunks([b"y" * 500], max_lines=10, max_bytes=100, max_tokens=None) == [[0]]  # alone, even if over
    assert _chunks([], max_lines=10, max_bytes=100, max_tokens=None) == []


def test_leftovers_are_cleared_and_a_release_moved_aside_comes_back(tmp_path: Path) -> None:
    from refed_hf.output_folder import clear_leftovers
    from tests.review_support import synthetic_release

    for name in (".work-v0.2.0", ".work-estimate-v0.2.0", ".v0.2.0.partial"):
        (tmp_path / name).mkdir()
    made = synthetic_release(tmp_path / "made", 10)  # a release this tool wrote, moved aside twice
    shutil.copytree(made, tmp_path / ".v0.1.0.old")
    shutil.copytree(made, tmp_path / ".v0.3.0.old")
    shutil.rmtree(tmp_path / "made")
    (tmp_path / "v0.3.0").mkdir()  # its replacement did take its place: the old copy goes
    (tmp_path / ".v0.4.0.old").mkdir()  # named like a leftover but no release of this tool's: kept as it is
    clear_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".v0.4.0.old", "v0.1.0", "v0.3.0"]
    assert (tmp_path / "v0.1.0" / "manifest.json").is_file()


def test_an_existing_release_of_a_local_seed_is_reused_only_for_the_same_content(tmp_path: Path, monkeypatch) -> None:
    from refed_hf.builder.local_seed import read_local
    from refed_hf.job import existing_release
    from refed_hf.recipe import Recipe
    from refed_hf.release.manifest import write
    from tests.fakes.seeds import write_lima_seed
    from tests.helpers import manifest_of

    monkeypatch.chdir(tmp_path)
    write_lima_seed(tmp_path / "pairs.jsonl", single=3)
    recipe = Recipe(seed=str(tmp_path / "pairs.jsonl"), output=str(tmp_path / "out"))
    _, facts = read_local(recipe.seed, recipe.seed_split)
    release = tmp_path / "out" / "v0.1.0"
    release.mkdir(parents=True)
    write(release, manifest_of(recipe, facts))
    assert existing_release(recipe) is not None
    write_lima_seed(tmp_path / "pairs.jsonl", single=4)  # same file name, other pairs
    assert existing_release(recipe) is None


def test_budget_guard_passes_calls_to_the_transport_it_wraps_until_the_next_would_pass_the_budget() -> None:
    class Answering:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, call: Call) -> CachedAnswer:
            self.sent.append(call.key)
            return CachedAnswer("{}", "stop", 10, 0)  # $10 at a dollar a token

    body = {"messages": [{"role": "user", "content": "x" * 8 * CHARS_PER_TOKEN}]}
    estimate = prompt_tokens(body)  # dollars, at a dollar a prompt token; no completion expected
    inner = Answering()
    guard = BudgetGuard(
        inner, Pricing(ModelPrices(1e6, 1e6, 1e6, 1e6, 1e6, 1e6)), 20 + estimate - 1, False, CompletionEstimates(0)
    )

    async def calls() -> list[str]:
        outcomes = []
        for key in "abc":
            try:
                await guard.send(Call(body, CallCounts(), key, "responses", key))
                outcomes.append("sent")
            except OverBudget:
                outcomes.append("refused")
        return outcomes

    # Spent 0 then 10: the first two fit; with 20 spent the third's estimate passes the budget.
    assert asyncio.run(calls()) == ["sent", "sent", "refused"]
    assert inner.sent == ["a", "b"] and guard.spent == 20 and guard.tripped


def test_each_stage_is_priced_at_its_own_models_rates() -> None:
    mini, large = prices_for("gpt-4o-mini"), prices_for("gpt-4o")
    assert mini is not None and large is not None
    pricing = Pricing(mini, {"judge": large})
    usage = Usage(1_000_000, 0, 1_000_000)
    assert pricing.cost({"responses": usage}) == pytest.approx(0.15 + 0.60)
    assert pricing.cost({"responses": usage, "judge": usage}) == pytest.approx(0.75 + 2.50 + 10.00)
    assert Pricing(mini, {"judge": None}).cost({"judge": usage}) is None and not Pricing(mini, {"judge": None}).known
    assert Pricing(None).cost({}) is None and Pricing(mini, {"judge": None}).cost({"responses": usage}) is not None
