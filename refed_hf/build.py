"""`python -m refed_hf.build`: build a REFED release (and, with --push, publish it).

The flags mirror the recipe's fields; a flag given on the command line overrides the recipe file.
"""

from __future__ import annotations

from . import signals

if __name__ == "__main__":
    # First thing, before the imports below (pydantic) and in `main` (datasets, openai) that take a
    # second or more: a Ctrl-C or SIGTERM during them ends the run with one line, not a traceback.
    signals.install()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from .errors import RefedError  # noqa: E402
from .recipe import Recipe, load_recipe  # noqa: E402


def _test_size(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number: give a fraction (0.1) or a count (200)"
            ) from None


def _parser(prog: str = "python -m refed_hf.build", estimate_mode: bool = False) -> argparse.ArgumentParser:
    defaults = Recipe()
    p = argparse.ArgumentParser(
        prog=prog,
        description="Build a REFED release: reference-level feedback → new instructions → responses → improvements.",
    )
    p.add_argument(
        "--recipe",
        metavar="PATH_OR_HF_URI",
        help="TOML file with any recipe fields, or a published one: "
        "hf://datasets/ORG/NAME@vX.Y.Z/recipe.toml; flags override it",
    )
    p.add_argument("--seed", metavar="NAME_OR_PATH", help=f"Hub dataset or local path (default {defaults.seed})")
    p.add_argument("--seed-split", help=f"split of the seed (default {defaults.seed_split})")
    p.add_argument(
        "--seed-revision",
        metavar="REV",
        help=f"branch, tag or commit of a Hub seed, resolved to a commit sha at start (default {defaults.seed_revision})",
    )
    p.add_argument("--seed-config", metavar="NAME", help="config of a Hub seed that has several")
    p.add_argument(
        "--instruction-column", metavar="NAME", help="seed column holding the instruction (with --response-column)"
    )
    p.add_argument("--response-column", metavar="NAME", help="seed column holding the response")
    p.add_argument("--context-column", metavar="NAME", help="seed column joined to the instruction after a blank line")
    p.add_argument(
        "--max-reference-tokens",
        type=int,
        metavar="N",
        help=f"drop longer references (characters / 4) before any call (default {defaults.max_reference_tokens})",
    )
    p.add_argument("--license", metavar="ID", help=f"Hub license id of the release (default {defaults.license})")
    p.add_argument(
        "--feedback-text",
        choices=["include", "omit", "auto"],
        help="republish the seed's texts in config feedback (default auto: not for a gated or private seed)",
    )
    p.add_argument("--teacher-model", help=f"teacher model or Azure deployment (default {defaults.teacher_model})")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--azure", action="store_true", default=None, help="use Azure OpenAI (AZURE_OPENAI_* variables)")
    p.add_argument("--size", type=int, metavar="N", help=f"records wanted (default {defaults.size})")
    p.add_argument("--random-seed", type=int, help=f"seed of every sampling choice (default {defaults.random_seed})")
    p.add_argument(
        "--test-size",
        type=_test_size,
        metavar="X",
        help="held-out split `test`, whole references: a fraction below 1 or a count of records (default 0: none)",
    )
    p.add_argument("--language", help=f"language code of the records, for the card (default {defaults.language})")
    p.add_argument("--concurrency", type=int, help=f"teacher calls in flight at most (default {defaults.concurrency})")
    p.add_argument("--max-rpm", type=int, help="teacher requests per minute at most (default: no limit)")
    p.add_argument("--max-tpm", type=int, help="teacher tokens per minute at most (default: no limit)")
    p.add_argument("--output", metavar="DIR", help=f"where releases are written (default {defaults.output})")
    p.add_argument("--version", help=f"release version X.Y.Z (default {defaults.version})")
    p.add_argument("--temperature", type=float, help=f"(default {defaults.temperature})")
    p.add_argument("--top-p", type=float, help=f"(default {defaults.top_p})")
    p.add_argument("--max-tokens", type=int, help=f"(default {defaults.max_tokens})")
    p.add_argument(
        "--no-structured-outputs",
        dest="structured_outputs",
        action="store_false",
        default=None,
        help="do not send response_format json_schema (for endpoints without structured outputs)",
    )
    p.add_argument(
        "--max-reasks", type=int, help=f"re-asks when an answer does not validate (default {defaults.max_reasks})"
    )
    p.add_argument("--max-retries", type=int, help=f"retries of a failed call (default {defaults.max_retries})")
    p.add_argument("--request-timeout", type=float, help=f"seconds per call (default {defaults.request_timeout})")
    p.add_argument(
        "--max-timeout-retries",
        type=int,
        help=f"retries of a timed-out call, each with twice the time (default {defaults.max_timeout_retries})",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        default=None,
        help="send every teacher call through the Batch API (half price, answers within 24 h); a rerun re-attaches",
    )
    p.add_argument(
        "--batch-poll-max",
        type=float,
        metavar="S",
        help=f"longest wait between batch status checks, in seconds (default {defaults.batch_poll_max:g})",
    )
    p.add_argument(
        "--batch-token-limit",
        type=int,
        metavar="N",
        help="the provider's enqueued-token limit for the model: batches beyond it wait (default: none)",
    )
    p.add_argument(
        "--max-budget",
        type=float,
        metavar="USD",
        help="stop starting teacher calls once this run's estimated spend would pass USD",
    )
    if estimate_mode:
        p.add_argument(
            "--references",
            dest="estimate",
            type=int,
            default=3,
            metavar="N",
            help="build the first N references for real (default 3, cached), then project the whole --size",
        )
    else:
        p.add_argument(
            "--estimate",
            type=int,
            nargs="?",
            const=3,
            metavar="N",
            help="build the first N references for real (default 3, cached), print the projected calls, "
            "tokens, cost and time of the whole --size, and exit",
        )
    p.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="embedded local teacher (SmolLM2-135M via llama.cpp), bundled seed, no network",
    )
    p.add_argument("--teacher-gguf", metavar="PATH", help="embedded local teacher serving this GGUF chat model")
    p.add_argument(
        "--dedup-threshold",
        metavar="J|off",
        help=f"drop instructions this near (Jaccard of word 2-grams) to an earlier one; 1.0 = exact "
        f"duplicates only, off = keep duplicates (default {defaults.dedup_threshold})",
    )
    p.add_argument(
        "--no-seed-leakage-filter",
        dest="seed_leakage_filter",
        action="store_false",
        default=None,
        help="keep instructions that are near-duplicates of a seed instruction",
    )
    p.add_argument(
        "--no-refusal-filter",
        dest="refusal_filter",
        action="store_false",
        default=None,
        help="keep responses that are refusals, apologies or empty",
    )
    p.add_argument(
        "--no-length-filter",
        dest="length_filter",
        action="store_false",
        default=None,
        help="keep improved responses much shorter than the response they improve",
    )
    p.add_argument(
        "--min-length-ratio",
        type=float,
        metavar="R",
        help=f"length filter: improved response at least R x the response (default {defaults.min_length_ratio})",
    )
    p.add_argument(
        "--feedback-scope",
        choices=["used", "all"],
        help="feedback for the references records are drawn from, or for every reference of the seed "
        f"as the paper's collection step did (default {defaults.feedback_scope})",
    )
    p.add_argument("--push", action="store_true", help="publish the release to the Hub (tag vX.Y.Z)")
    p.add_argument("--repo-id", metavar="ORG/NAME", help="Hub dataset repo to publish to (needed with --push)")
    p.add_argument("--private", action="store_true", default=None, help="create the repo private")
    p.add_argument("--dry-run", action="store_true", help="build and render, print what --push would commit and tag")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    return p


_NOT_RECIPE = {"recipe", "quiet", "push", "dry_run", "estimate"}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v is not None and k not in _NOT_RECIPE}


def _cost_line(m: dict[str, Any]) -> str:
    if m["estimated_cost_usd"] is None:
        return (
            f"unknown: no price for '{m['teacher']['model']}' in the price table "
            "(give [prices] prompt and completion in the recipe)"
        )
    rates = "batch rates" if m["cost"]["priced_at"] == "batch" else "direct rates"
    line = (
        f"${m['this_run_cost_usd']:.4f} this run, ${m['estimated_cost_usd']:.4f} for the release (estimated, {rates})"
    )
    batch = m.get("batch_api")
    if batch:
        line += (
            f"; Batch API: {batch['waves']} waves, {batch['batches']} batches, {batch['lines']} lines, "
            f"{batch['failed_lines']} failed"
        )
    return line


def _summary(result: Any) -> str:
    m = result.manifest
    run = m["teacher"]["this_run"]
    failures = (
        ", ".join(f"{stage}/{why}: {n}" for stage, c in m["stages"].items() for why, n in c["failed"].items()) or "none"
    )
    lost = m["stages"]["feedback"]["in"] - m["stages"]["feedback"]["out"]
    shortfall = (
        f" ({m['shortfall']} short of {m['wanted']}: the seed ran out, every usable reference was used"
        f"{f' and {lost} lost their feedback to failed calls' if lost else ''})"
        if m["shortfall"]
        else ""
    )
    timeouts = m.get("timeouts") or {}
    timeout_lines = (
        [
            f"timeouts:     {timeouts['timeouts']} (each retried at most {timeouts['max_timeout_retries']} "
            f"times with twice the time); p95 latency {timeouts['latency_p95_s']} s"
        ]
        if timeouts.get("timeouts")
        else []
    )
    timeout_lines += [f"warning:      {timeouts['advice']}"] if timeouts.get("advice") else []
    return "\n".join(
        [
            f"records:      {m['records']}{shortfall}",
            f"references:   {m['references_used']} used, {m['feedback_rows']} with feedback",
            f"failures:     {failures}",
            *(
                [
                    f"filtered:     {m['filters']['screened'] - m['filters']['kept']} of {m['filters']['screened']} dropped ("
                    + ", ".join(f"{name} {n}" for name, n in m["filters"]["dropped"].items())
                    + ")"
                ]
                if m.get("filters")
                else []
            ),
            f"calls:        {run['answers']} answered ({run['requests']} requests, {run['rate_limited']} rate-limited), {run['cache_hits']} cache hits",
            *timeout_lines,
            f"tokens:       {run['prompt_tokens']} prompt ({run['cached_tokens']} cached) + {run['completion_tokens']} completion this run; "
            f"cached share of the release's prompt tokens {m['cached_share']:.1%}",
            f"cost:         {_cost_line(m)}",
            f"wall time:    {m['wall_time_s']:.1f} s",
            f"release:      {result.path}",
        ]
    )


def main(argv: list[str] | None = None, prog: str = "python -m refed_hf.build", estimate_mode: bool = False) -> int:
    """Run the build CLI; `refed-hf build` and `refed-hf estimate` call this with their own `prog`."""
    args = _parser(prog, estimate_mode).parse_args(argv)
    with signals.armed():
        try:
            return _main(args)
        except KeyboardInterrupt as exc:
            signals.tell()
            return signals.exit_code(exc)


def _main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.offline:
        # Read by huggingface_hub and datasets at import time: set before they are imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets  # noqa: PLC0415 - after argument parsing, so --help stays fast

    from .job import existing_release, publish_release, require_repo_id, run  # noqa: PLC0415

    datasets.logging.set_verbosity_error()
    if args.quiet:
        datasets.disable_progress_bars()
    try:
        recipe = load_recipe(args.recipe, _overrides(args))
        if recipe.batch:
            signals.use_message(signals.BATCH_MESSAGE)
        if args.estimate is not None:
            from .estimate import estimate  # noqa: PLC0415

            print(estimate(recipe, args.estimate))
            return 0
        publishing = args.push or args.dry_run
        if publishing:
            require_repo_id(recipe)  # before building, not after
        # A release already built from this recipe is published as it is: no key, no teacher call.
        result = (existing_release(recipe) if publishing else None) or run(recipe)
        print(_summary(result) if result.built else f"release:      {result.path} (already built)")
        if result.built and result.manifest["records"] == 0:
            print(
                "error: no record was made: every item failed (see failures above); answers paid for are cached",
                file=sys.stderr,
            )
            return 1
        if publishing:
            publish_release(result, recipe, dry_run=args.dry_run)
    except RefedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    exit_code = main()
    signals.ignore_while_exiting()
    sys.exit(exit_code)
