"""pytest-netfence: one fenced Docker Compose stack per pytest(-xdist) worker.

The ``netfence_stack`` fixture brings up this worker's own copy of the stack with
``netfence run`` and yields a :class:`RunInfo`; see the README for the ini options.
"""

from .info import (
    Container,
    Endpoint,
    Network,
    PublishedPort,
    RunInfo,
    RunInfoError,
    Service,
)
from .plugin import NetfenceSession
from .stack import NetfenceError, RunningStack, StackConfig, start_stack

__all__ = [
    "Container",
    "Endpoint",
    "NetfenceError",
    "NetfenceSession",
    "Network",
    "PublishedPort",
    "RunInfo",
    "RunInfoError",
    "RunningStack",
    "Service",
    "StackConfig",
    "start_stack",
]
