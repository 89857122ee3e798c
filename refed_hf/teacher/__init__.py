"""The teacher's machinery: the client and its one call path, the transports behind it (direct,
Batch API, budget guard), the limiter, the response cache, answer parsing, accounting, endpoints,
and the embedded local server.

A leaf: it imports nothing of datasets, the recipe, the pipeline, the release or the card. The
schema of each answer, the re-ask message and the prices come in as plain values
(`refed_hf/teacher_setup.py` builds a teacher from a recipe)."""

from .client import Answered, Failed, Sampling, Teacher
from .connection import ClientFactory
from .transport import Call, Transport

__all__ = ["Answered", "Call", "ClientFactory", "Failed", "Sampling", "Teacher", "Transport"]
