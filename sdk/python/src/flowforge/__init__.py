"""FlowForge's Python SDK: the public contracts' messages and gRPC stubs (``flowforge.<capability>.v1``,
generated from proto/), a client that sends the key and raises errors naming the field, and jobs."""
from flowforge.client import FlowForge
from flowforge.errors import FieldViolation, FlowForgeError
from flowforge.batches import Outcome, get, outcomes, run, submit, wait, watch
from flowforge.requests import method_named, request

__all__ = [
    "FieldViolation",
    "FlowForge",
    "FlowForgeError",
    "Outcome",
    "get",
    "method_named",
    "outcomes",
    "request",
    "run",
    "submit",
    "wait",
    "watch",
]
__version__ = "0.1.0"
