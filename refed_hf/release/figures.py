"""The quality report's figures, drawn with matplotlib's Agg backend: no display is needed or used."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: a build on a server has no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 100
LABEL_LIMIT = 42
# Beyond this many records a scatter is a blot: bin the points instead.
SCATTER_LIMIT = 20_000


def warm_up() -> None:
    """Draw a small figure and throw it away: matplotlib's first figure loads its fonts and backend."""
    fig, ax = plt.subplots(figsize=(2, 2), layout="constrained")
    ax.hist([1.0, 2.0, 2.0, 3.0], bins=3)
    ax.axvline(2.0, linestyle="--", label="median")
    ax.legend(fontsize=8)
    ax.set_title("warm-up")
    fig.savefig(io.BytesIO(), dpi=DPI, format="png", metadata={"Software": None})
    plt.close(fig)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata: the same release draws byte-identical images.
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def lengths(values: dict[str, np.ndarray], path: Path) -> None:
    fig, axes = plt.subplots(1, len(values), figsize=(4 * len(values), 3.2), layout="constrained")
    for ax, (name, lens) in zip(np.atleast_1d(axes), values.items()):
        ax.hist(lens, bins=40, color="#4c72b0")
        if len(lens):
            ax.axvline(float(np.median(lens)), color="#c44e52", linestyle="--", label=f"median {np.median(lens):.0f}")
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("characters")
        ax.set_ylabel("records")
    _save(fig, path)


def improvement(response: np.ndarray, improved: np.ndarray, min_ratio: float | None, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
    if len(response) > SCATTER_LIMIT:
        ax.hexbin(response, improved, gridsize=60, bins="log", cmap="Blues", mincnt=1)
    else:
        ax.scatter(response, improved, s=6, alpha=0.5, color="#4c72b0", linewidths=0)
    top = float(max(response.max(initial=1), improved.max(initial=1)))
    ax.plot([0, top], [0, top], color="grey", linewidth=1, label="same length")
    if min_ratio:
        ax.plot(
            [0, top],
            [0, min_ratio * top],
            color="#c44e52",
            linestyle="--",
            linewidth=1,
            label=f"length filter ({min_ratio:g} x)",
        )
    ax.set_xlabel("response (characters)")
    ax.set_ylabel("improved response (characters)")
    ax.legend(fontsize=8)
    _save(fig, path)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1] + "…"


def top_features(counts: dict[str, list[tuple[str, int]]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts), 6), layout="constrained")
    for ax, (name, top) in zip(np.atleast_1d(axes), counts.items()):
        labels = [_short(label) for label, _ in reversed(top)]
        ax.barh(range(len(top)), [n for _, n in reversed(top)], color="#55a868")
        ax.set_yticks(range(len(top)), labels, fontsize=8)
        ax.set_title(f"{len(top)} most frequent {name}")
        ax.set_xlabel("references")
    _save(fig, path)


def filters(kept: int, dropped: dict[str, Any], path: Path) -> None:
    names = ["kept", *dropped]
    values = [kept, *dropped.values()]
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    bars = ax.bar(names, values, color=["#55a868"] + ["#c44e52"] * len(dropped))
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("records")
    ax.set_title("records kept and dropped per filter")
    ax.tick_params(axis="x", labelsize=8, rotation=15)
    _save(fig, path)


VERDICT_COLOURS = {"improved": "#55a868", "original": "#c44e52", "tie": "#8c8c8c", "no verdict": "#dddddd"}


def judge(rows: dict[str, dict[str, int]], orders: np.ndarray, path: Path) -> None:
    """Left: per row (all records, then each feature) the share of each verdict as one stacked bar.
    Right: the verdict with the original response first against the one with it second; the
    diagonal is where the orders agree (off it, the record is a tie)."""
    fig, (bars, grid) = plt.subplots(
        1, 2, figsize=(10, 3.4), layout="constrained", gridspec_kw={"width_ratios": [1.7, 1]}
    )
    names = list(reversed(rows))  # "all" at the top
    totals = np.array([max(sum(rows[name].values()), 1) for name in names], dtype=float)
    left = np.zeros(len(names))
    for verdict, colour in VERDICT_COLOURS.items():
        counts = np.array([rows[name].get(verdict, 0) for name in names], dtype=float)
        if not counts.any():
            continue
        shares = counts / totals
        drawn = bars.barh(range(len(names)), shares, left=left, color=colour, label=verdict)
        bars.bar_label(drawn, labels=[f"{s:.0%}" if s >= 0.06 else "" for s in shares], label_type="center", fontsize=8)
        left += shares
    bars.set_yticks(range(len(names)), [f"{name} ({sum(rows[name].values())})" for name in names])
    bars.set_xlim(0, 1)
    bars.set_xlabel("share of records")
    bars.set_title("judge's verdict (both orders)")
    bars.legend(fontsize=8, ncols=len(VERDICT_COLOURS), loc="upper center", bbox_to_anchor=(0.5, -0.22))
    verdicts = list(VERDICT_COLOURS)[:3]
    grid.imshow(orders, cmap="Blues")
    for (row, column), n in np.ndenumerate(orders):
        colour = "white" if orders.max() and n > orders.max() / 2 else "black"
        grid.text(column, row, str(n), ha="center", va="center", fontsize=9, color=colour)
    grid.set_xticks(range(3), verdicts, fontsize=8)
    grid.set_yticks(range(3), verdicts, fontsize=8)
    grid.set_xlabel("improved response shown first")
    grid.set_ylabel("original shown first")
    agreed, judged = int(np.trace(orders)), int(orders.sum())
    grid.set_title(f"orders agree on {agreed} of {judged}", fontsize=10)
    _save(fig, path)


def sheet(images: list[Path], path: Path) -> None:
    """The figures on one page at their own size, narrow ones side by side (the picture of a report)."""
    pixels = [plt.imread(image) for image in images]
    width = max(p.shape[1] for p in pixels)
    rows: list[list[np.ndarray]] = []
    for image in pixels:  # first fit: a figure goes in the first row with room for it
        row = next((r for r in rows if sum(p.shape[1] for p in r) + image.shape[1] <= width), None)
        if row is None:
            rows.append([image])
        else:
            row.append(image)
    height = sum(max(p.shape[0] for p in row) for row in rows)
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    top = height
    for row in rows:
        top -= max(p.shape[0] for p in row)
        left = 0
        for image in row:
            fig.figimage(image, xo=left, yo=top, origin="upper")
            left += image.shape[1]
    _save(fig, path)
