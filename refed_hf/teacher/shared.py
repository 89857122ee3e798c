"""What the teacher and its transports share during one run, made once and handed to each.

The limiter is the run's one gate for calls, the completion estimates learn from every answer
(whichever transport brought it), and the first build-stopping error stops every transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .connection import Connection
from .estimates import CompletionEstimates
from .failures import FatalStop
from .limiter import CallLimiter


@dataclass
class Shared:
    connection: Connection
    limiter: CallLimiter
    estimates: CompletionEstimates
    stop: FatalStop = field(default_factory=FatalStop)
