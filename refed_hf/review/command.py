"""`refed-hf review RELEASE` / `python -m refed_hf.review RELEASE`: one self-contained HTML page to
read a release before training on it or publishing it.

    refed-hf review ./refed-release/v1.0.0
    refed-hf review hf://datasets/my-org/refed@v1.0.0 --output review.html

The page opens from file:// in any current browser and loads nothing from the network; it is written
outside the release, so it is never published with it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..arguments import Parser
from ..errors import RefedError, ReviewError
from .page import page_data, render
from .source import dropped_items, locate, read_manifest


def _output(given: str | None, version: str, release_path: Path, local: bool) -> Path:
    output = Path(given or f"review-v{version}.html").expanduser()
    if local and output.resolve().is_relative_to(release_path.resolve()):
        raise ReviewError(
            f"--output {output} is inside the release folder, which is published as it is: write the page elsewhere"
        )
    return output


def review(release: str, output: str | None, dropped: str | None = None) -> tuple[Path, dict[str, int | None]]:
    """Write the review page of `release`; return where, and how many records, references and
    dropped items it shows (None: the dropped items are not at hand)."""
    with tempfile.TemporaryDirectory(prefix="refed-review-") as tmp:
        source = locate(release, Path(tmp))
        manifest = read_manifest(source.path, release)
        target = _output(output, manifest.version, source.path, source.local)
        data = page_data(source, manifest, dropped_items(source, manifest, Path(dropped) if dropped else None))
        html = render(manifest, data)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReviewError(f"cannot write {target}: {exc.strerror} (pass another --output)") from None
    counts = {
        "records": len(data["records"]),
        "references": len(data["references"]),
        "dropped": None if data["dropped"] is None else len(data["dropped"]),
    }
    return target, counts


def main(argv: list[str] | None = None, prog: str = "python -m refed_hf.review") -> int:
    parser = Parser(prog=prog, description=(__doc__ or "").splitlines()[0])
    parser.add_argument("release", metavar="RELEASE", help="a release directory, or hf://datasets/ORG/NAME@vX.Y.Z")
    parser.add_argument("--output", metavar="FILE", help="the page to write (default ./review-vX.Y.Z.html)")
    parser.add_argument(
        "--dropped",
        metavar="FILE",
        help="the build's dropped-vX.Y.Z.jsonl (default: the one beside a release folder, when there)",
    )
    args = parser.parse_args(argv)
    try:
        target, counts = review(args.release, args.output, args.dropped)
    except RefedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    dropped = "not at hand" if counts["dropped"] is None else str(counts["dropped"])
    print(f"records:    {counts['records']}")
    print(f"references: {counts['references']}")
    print(f"dropped:    {dropped}")
    print(f"page:       {target} ({target.stat().st_size / 2**20:.1f} MiB)")
    return 0
