"""The teacher's machinery: the client and its one call path, the limiter, the response cache,
answer parsing, accounting, endpoints, and the embedded local server. It knows nothing of datasets."""

from .client import Answered, ClientFactory, Failed, Sampling, Teacher

__all__ = ["Answered", "ClientFactory", "Failed", "Sampling", "Teacher"]
