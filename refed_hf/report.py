"""`python -m refed_hf.report RELEASE`: the quality report of a release, on disk or on the Hub.

    python -m refed_hf.report ./refed-release/v1.0.0
    python -m refed_hf.report hf://datasets/my-org/refed@v1.0.0 --out report-v1

Prints the numbers and writes the figures (PNG) to a folder, so two releases can be compared, with
`report.png`: every figure on one page.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from .arguments import Parser
from .errors import ManifestError, RefedError
from .release.manifest import Manifest, read

HF_URL = re.compile(r"^hf://datasets/(?P<repo>[^/@\s]+/[^/@\s]+?)(?:@(?P<revision>[^@\s]+))?/?$")
SHEET = "report.png"
RELEASE_FILES = ["manifest.json", "data/default/*.parquet", "data/feedback/*.parquet"]


class ReportError(RefedError):
    """The release to report on cannot be found or read."""


def _download(url: str, into: Path) -> Path:
    match = HF_URL.match(url)
    if not match:
        raise ReportError(f"not a Hub dataset URL: {url} (use hf://datasets/ORG/NAME@vX.Y.Z)")
    from huggingface_hub import snapshot_download  # noqa: PLC0415 - reads HF_ENDPOINT at import
    from huggingface_hub.errors import HfHubHTTPError  # noqa: PLC0415

    try:
        return Path(
            snapshot_download(
                match["repo"],
                repo_type="dataset",
                revision=match["revision"],
                allow_patterns=RELEASE_FILES,
                local_dir=into,
            )
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "no response"
        raise ReportError(
            f"cannot read {url} from the Hub (HTTP {status}): check the repo id and the version tag, "
            "and HF_TOKEN for a private repo"
        ) from None


def _manifest(release: Path, shown: str) -> Manifest:
    file = release / "manifest.json"
    if not file.is_file() or not any((release / "data" / "default").glob("*.parquet")):
        raise ReportError(
            f"{shown} is not a REFED release (no manifest.json or data/default/*.parquet): "
            "pass a release directory such as ./refed-release/v1.0.0"
        )
    try:
        return read(file)
    except ManifestError as exc:
        raise ReportError(f"{shown}: {exc}") from None


def report(release: str, out: str | None, changed_over: float) -> tuple[dict[str, Any], Path]:
    from .release.figures import sheet  # noqa: PLC0415 - matplotlib only once the input is good
    from .release.report import quality_report  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="refed-report-") as tmp:
        path = _download(release, Path(tmp)) if release.startswith("hf://") else Path(release).expanduser()
        manifest = _manifest(path, release)
        folder = Path(out or f"refed-report-v{manifest.version}")
        numbers = quality_report(path, manifest.filters, folder, changed_over)
    sheet([folder / figure["file"] for figure in numbers["figures"]], folder / SHEET)
    return numbers, folder


def main(argv: list[str] | None = None, prog: str = "python -m refed_hf.report") -> int:
    parser = Parser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("release", metavar="RELEASE_DIR", help="a release directory, or hf://datasets/ORG/NAME@vX.Y.Z")
    parser.add_argument("--out", metavar="DIR", help="folder for the figures (default ./refed-report-vX.Y.Z)")
    parser.add_argument(
        "--changed-over",
        type=float,
        default=20.0,
        metavar="PCT",
        help="count records whose improvement changed more than PCT%% of the text (default 20)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.changed_over < 100:
        print("error: --changed-over must be a percentage in [0, 100), e.g. 20", file=sys.stderr)
        return 2
    from .release.report import describe  # noqa: PLC0415

    try:
        numbers, folder = report(args.release, args.out, args.changed_over)
    except RefedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(describe(numbers))
    for figure in numbers["figures"]:
        print(f"figure:                   {folder / figure['file']}")
    print(f"all figures:              {folder / SHEET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
