"""The review page of a release: records, their references and feedback, the word diff of each
improvement, the judge's verdicts and what the filters dropped, in one self-contained HTML file."""

from .command import review

__all__ = ["review"]
