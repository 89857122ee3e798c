"""`python -m refed_hf.build`: build a REFED release (and, with --push, publish it).

The recipe flags are made from the recipe's fields (name, type, description, default: declared once,
in `refed_hf/recipe.py`); a flag given on the command line overrides the recipe file.
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
from collections.abc import Callable  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from .arguments import Parser  # noqa: E402
from .errors import RefedError  # noqa: E402
from .recipe import FIELDS, load_recipe  # noqa: E402
from .recipe_fields import GROUPS, FieldSpec, shown  # noqa: E402

if TYPE_CHECKING:
    from .job import JobResult
    from .release.manifest import Manifest


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


def _flag_type(spec: FieldSpec) -> Callable[[str], Any] | None:
    """How a flag's text becomes a value; None leaves it a string for the recipe to check (a name,
    or a number-or-word such as `--dedup-threshold 0.9|off`)."""
    kinds = set(spec.value_types())
    if kinds == {int, float}:
        return _test_size
    if kinds == {int}:
        return int
    if kinds == {float}:
        return float
    return None


def _flag_help(spec: FieldSpec) -> str:
    if isinstance(spec.default, bool):
        return f"{spec.description} (default {shown(spec.default)})"
    defaults = []
    if spec.default is None and spec.unset:
        defaults.append(f"default: {spec.unset}")
    elif spec.default is not None and spec.default is not False:
        defaults.append(f"default {shown(spec.default)}")
    if spec.has_offline_default:
        defaults.append(f"{shown(spec.offline_default)} with --offline")
    help_text = f"{spec.description} ({'; '.join(defaults)})" if defaults else spec.description
    return help_text.replace("%", "%%")  # argparse formats help with %


def _add_recipe_flag(group: argparse._ArgumentGroup, spec: FieldSpec, flag: str) -> None:
    """A recipe field as a flag: unset (None) unless given, so the recipe file's value stands."""
    if isinstance(spec.default, bool):
        # Both ways (`--x` and `--no-x`), so a flag can undo what a recipe file turned on or off.
        dashed = "--" + spec.name.replace("_", "-")
        group.add_argument(
            dashed, dest=spec.name, action=argparse.BooleanOptionalAction, default=None, help=_flag_help(spec)
        )
        return
    options: dict[str, Any] = {"dest": spec.name, "help": _flag_help(spec)}
    if isinstance(spec.default, list):
        options["action"] = "append"  # a repeatable flag: each use adds one value
    elif spec.choices is not None:
        options["choices"] = list(spec.choices)
    elif (kind := _flag_type(spec)) is not None:
        options["type"] = kind
    if spec.metavar is not None:
        options["metavar"] = spec.metavar
    group.add_argument(flag, **options)


def _parser(prog: str = "python -m refed_hf.build", estimate_mode: bool = False) -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Build a REFED release: reference-level feedback → new instructions → responses → improvements. "
        "Every recipe flag can also be given in the --recipe file, as its field name.",
    )
    p.add_argument(
        "--recipe",
        metavar="PATH_OR_HF_URI",
        help="TOML file with any recipe fields, or a published one: "
        "hf://datasets/ORG/NAME@vX.Y.Z/recipe.toml; flags override it",
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
    groups = {name: p.add_argument_group(name, about) for name, about in GROUPS.items()}
    for spec in FIELDS:
        if (flag := spec.flag) is not None:
            _add_recipe_flag(groups[spec.group], spec, flag)
    groups["run"].add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    groups["publish"].add_argument("--push", action="store_true", help="publish the release to the Hub (tag vX.Y.Z)")
    groups["publish"].add_argument(
        "--dry-run", action="store_true", help="build and render, print what --push would commit and tag"
    )
    return p


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given as flags."""
    return {spec.name: value for spec in FIELDS if (value := getattr(args, spec.name, None)) is not None}


def _cost_line(m: Manifest) -> str:
    if m.estimated_cost_usd is None or m.this_run_cost_usd is None:
        return (
            f"unknown: no price for '{m.teacher.model}' in the price table "
            "(give [prices] prompt and completion in the recipe)"
        )
    rates = "batch rates" if m.cost is not None and m.cost.priced_at == "batch" else "direct rates"
    line = f"${m.this_run_cost_usd:.4f} this run, ${m.estimated_cost_usd:.4f} for the release (estimated, {rates})"
    batch = m.batch_api
    if batch is not None:
        line += (
            f"; Batch API: {batch.waves} waves, {batch.batches} batches, {batch.lines} lines, "
            f"{batch.failed_lines} failed"
        )
    return line


def _ablation_lines(m: Manifest) -> list[str]:
    if m.ablations is None:
        return []
    rows = ", ".join(f"{name} {n}" for name, n in m.ablations.rows.items())
    used = sum(m.stages[stage].items_in for stage in ("sample_feedback", "sample_improvements") if stage in m.stages)
    return [f"ablations:    {rows} rows; the sample-level baseline used {used} calls (in the cost below)"]


def _selection_lines(m: Manifest) -> list[str]:
    """The judge's figures and each subset's size, when the recipe asked for them."""
    lines = []
    judge = m.judge
    if judge is not None:
        rate = "n/a" if judge.win_rate is None else f"{judge.win_rate:.1%}"
        lines.append(
            f"judge:        win rate of the improved response {rate} ({judge.improved} of {judge.records}); "
            f"{judge.tie} ties ({judge.disagreements} where the orders disagreed), {judge.original} original; "
            f"{judge.records - judge.judged} without a verdict"
        )
    for subset in m.subsets or []:
        short = (
            f" of {subset.wanted} asked (only {subset.candidates} to choose from)"
            if subset.rows < subset.wanted
            else ""
        )
        lines.append(f"subset:       {subset.config}: {subset.rows} rows{short}")
    return lines


def _summary(result: JobResult) -> str:
    m = result.manifest
    run = m.teacher.this_run
    failures = (
        ", ".join(f"{stage}/{why}: {n}" for stage, c in m.stages.items() for why, n in c.failed.items()) or "none"
    )
    lost = m.stages["feedback"].items_in - m.stages["feedback"].items_out
    shortfall = (
        f" ({m.shortfall} short of {m.wanted}: the seed ran out, every usable reference was used"
        f"{f' and {lost} lost their feedback to failed calls' if lost else ''})"
        if m.shortfall
        else ""
    )
    timeouts = m.timeouts
    timeout_lines = (
        [
            f"timeouts:     {timeouts.timeouts} (each retried at most {timeouts.max_timeout_retries} "
            f"times with twice the time); p95 latency {timeouts.latency_p95_s} s"
        ]
        if timeouts is not None and timeouts.timeouts
        else []
    )
    timeout_lines += [f"warning:      {timeouts.advice}"] if timeouts is not None and timeouts.advice else []
    filters = m.filters
    return "\n".join(
        [
            f"records:      {m.records}{shortfall}",
            f"references:   {m.references_used} used, {m.feedback_rows} with feedback",
            f"failures:     {failures}",
            *(
                [
                    f"filtered:     {filters.screened - filters.kept} of {filters.screened} dropped ("
                    + ", ".join(f"{name} {n}" for name, n in filters.dropped.items())
                    + ")"
                ]
                if filters is not None
                else []
            ),
            *_ablation_lines(m),
            *_selection_lines(m),
            f"calls:        {run.answers} answered ({run.requests} requests, {run.rate_limited} rate-limited), {run.cache_hits} cache hits",
            *timeout_lines,
            f"tokens:       {run.prompt_tokens} prompt ({run.cached_tokens} cached) + {run.completion_tokens} completion this run; "
            f"cached share of the release's prompt tokens {m.cached_share:.1%}",
            f"cost:         {_cost_line(m)}",
            f"wall time:    {m.wall_time_s:.1f} s",
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
        if publishing:
            publish_release(result, recipe, dry_run=args.dry_run)
    except RefedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    from .exiting import exit_with

    exit_with(main())
