"""`python -m refed_hf.build`: build a REFED release (and, with --push, publish it).

The flags mirror the recipe's fields; a flag given on the command line overrides the recipe file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from .errors import RefedError
from .recipe import Recipe, load_recipe


def _parser() -> argparse.ArgumentParser:
    defaults = Recipe()
    p = argparse.ArgumentParser(
        prog="python -m refed_hf.build",
        description="Build a REFED release: reference-level feedback → new instructions → responses → improvements.",
    )
    p.add_argument("--recipe", metavar="PATH", help="TOML file with any recipe fields; flags override it")
    p.add_argument("--seed", metavar="NAME_OR_PATH", help=f"Hub dataset or local path (default {defaults.seed})")
    p.add_argument("--seed-split", help=f"split of the seed (default {defaults.seed_split})")
    p.add_argument("--teacher-model", help=f"teacher model or Azure deployment (default {defaults.teacher_model})")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--azure", action="store_true", default=None, help="use Azure OpenAI (AZURE_OPENAI_* variables)")
    p.add_argument("--size", type=int, metavar="N", help=f"records wanted (default {defaults.size})")
    p.add_argument("--random-seed", type=int, help=f"seed of every sampling choice (default {defaults.random_seed})")
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
    p.add_argument("--max-reasks", type=int, help=f"re-asks when an answer does not validate (default {defaults.max_reasks})")
    p.add_argument("--max-retries", type=int, help=f"retries of a failed call (default {defaults.max_retries})")
    p.add_argument("--request-timeout", type=float, help=f"seconds per call (default {defaults.request_timeout})")
    p.add_argument("--offline", action="store_true", default=None,
                   help="embedded local teacher (SmolLM2-135M via llama.cpp), bundled seed, no network")
    p.add_argument("--teacher-gguf", metavar="PATH", help="embedded local teacher serving this GGUF chat model")
    p.add_argument("--dedup-threshold", metavar="J|off",
                   help=f"drop instructions this near (Jaccard of word 2-grams) to an earlier one; 1.0 = exact "
                        f"duplicates only, off = keep duplicates (default {defaults.dedup_threshold})")
    p.add_argument("--no-seed-leakage-filter", dest="seed_leakage_filter", action="store_false", default=None,
                   help="keep instructions that are near-duplicates of a seed instruction")
    p.add_argument("--no-refusal-filter", dest="refusal_filter", action="store_false", default=None,
                   help="keep responses that are refusals, apologies or empty")
    p.add_argument("--no-length-filter", dest="length_filter", action="store_false", default=None,
                   help="keep improved responses much shorter than the response they improve")
    p.add_argument("--min-length-ratio", type=float, metavar="R",
                   help=f"length filter: improved response at least R x the response (default {defaults.min_length_ratio})")
    p.add_argument("--push", action="store_true", help="publish the release to the Hub (tag vX.Y.Z)")
    p.add_argument("--repo-id", metavar="ORG/NAME", help="Hub dataset repo to publish to (needed with --push)")
    p.add_argument("--private", action="store_true", default=None, help="create the repo private")
    p.add_argument("--dry-run", action="store_true", help="build and render, print what --push would commit and tag")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


_NOT_RECIPE = {"recipe", "quiet", "push", "dry_run"}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v is not None and k not in _NOT_RECIPE}


def _summary(result: Any) -> str:
    m = result.manifest
    run = m["teacher"]["this_run"]
    failures = ", ".join(f"{stage}/{why}: {n}" for stage, c in m["stages"].items() for why, n in c["failed"].items()) or "none"
    shortfall = (f" ({m['shortfall']} short of {m['wanted']}: every usable reference of the seed was used)"
                 if m["shortfall"] else "")
    return "\n".join(
        [
            f"records:      {m['records']}{shortfall}",
            f"references:   {m['references_used']} used, {m['feedback_rows']} with feedback",
            f"failures:     {failures}",
            *([f"filtered:     {m['filters']['screened'] - m['filters']['kept']} of {m['filters']['screened']} dropped ("
               + ", ".join(f"{name} {n}" for name, n in m["filters"]["dropped"].items()) + ")"] if m.get("filters") else []),
            f"calls:        {run['answers']} answered ({run['requests']} requests, {run['rate_limited']} rate-limited), {run['cache_hits']} cache hits",
            f"tokens:       {run['prompt_tokens']} prompt + {run['completion_tokens']} completion this run",
            f"cost:         ${m['this_run_cost_usd']:.4f} this run, ${m['estimated_cost_usd']:.4f} for the release (estimated)",
            f"wall time:    {m['wall_time_s']:.1f} s",
            f"release:      {result.path}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        publishing = args.push or args.dry_run
        if publishing:
            require_repo_id(recipe)  # before building, not after
        # A release already built from this recipe is published as it is: no key, no teacher call.
        result = (existing_release(recipe) if publishing else None) or run(recipe)
        print(_summary(result) if result.built else f"release:      {result.path} (already built)")
        if result.built and result.manifest["records"] == 0:
            print("error: no record was made: every item failed (see failures above); answers paid for are cached",
                  file=sys.stderr)
            return 1
        if publishing:
            publish_release(result, recipe, dry_run=args.dry_run)
    except RefedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: every answer already received is in the cache; rerun the same command to finish", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
