"""FlowForgeError: what FlowForge's errors carry (the code, each bad field, the request id), for
calls and for job items alike, decoded from the google.rpc.Status the gateway sends."""
from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2


@dataclass(frozen=True)
class FieldViolation:
    """A field the gateway or a capability refused, and why."""

    field: str
    description: str


class FlowForgeError(Exception):
    """An error from FlowForge: ``code`` (a grpc.StatusCode), ``message``, ``violations`` and ``request_id``."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: list | None = None,
        violations: list[FieldViolation] | None = None,
    ):
        self.code = code
        self.message = message
        self.violations: list[FieldViolation] = list(violations or [])
        self.request_id: str | None = None
        for detail in details or []:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                self.violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
                info = error_details_pb2.RequestInfo()
                detail.Unpack(info)
                self.request_id = info.request_id
        fields = "".join(f"\n  {v.field}: {v.description}" for v in self.violations)
        super().__init__(f"{code.name.lower()}: {message}{fields}")

    @property
    def fields(self) -> list[str]:
        """The names of the fields that were wrong."""
        return [v.field for v in self.violations]

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> "FlowForgeError":
        """A failed call's error, its details read from ``grpc-status-details-bin``."""
        details: list = []
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                details = list(status_pb2.Status.FromString(value).details)
        return cls(err.code(), err.details() or "", details)

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> "FlowForgeError":
        """A job item's error."""
        name = code_pb2.Code.Name(status.code)
        return cls(grpc.StatusCode[name], status.message, list(status.details))
