"""The FlowForge client: one gRPC channel to the gateway, the key sent with every call, errors
raised as FlowForgeError, and a stub per public service by the name it answers under."""
from __future__ import annotations

import grpc

from flowforge.account.v1 import account_pb2_grpc
from flowforge.admin.v1 import admin_pb2_grpc
from flowforge.blob.v1 import blob_pb2_grpc
from flowforge.crypto.v1 import crypto_pb2_grpc
from flowforge.errors import FlowForgeError
from flowforge.image.v1 import image_pb2_grpc
from flowforge.jobs.v1 import jobs_pb2_grpc
from flowforge.llm.v1 import llm_pb2_grpc
from flowforge.math.v1 import math_pb2_grpc
from flowforge.ocr.v1 import ocr_pb2_grpc
from flowforge.pdf.v1 import pdf_pb2_grpc
from flowforge.requests import Request, message_class, method_named
from flowforge.requests import request as request_of
from flowforge.transform.v1 import transform_pb2_grpc
from flowforge.vector.v1 import vector_pb2_grpc


class _Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the credential to every call and raises its errors as FlowForgeError."""

    def __init__(self, credential: str | None, timeout: float | None):
        self._metadata = [("authorization", f"Bearer {credential}")] if credential else []
        self._timeout = timeout

    def _details(self, details, default_timeout: float | None):
        metadata = list(details.metadata or []) + self._metadata
        return details._replace(metadata=metadata, timeout=details.timeout or default_timeout)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        call = continuation(self._details(client_call_details, self._timeout), request)
        if call.code() is not grpc.StatusCode.OK:
            raise FlowForgeError.from_rpc_error(call)
        return call

    def intercept_unary_stream(self, continuation, client_call_details, request):
        # No default deadline: a stream (a job's events, a chat) lasts as long as its work does.
        call = continuation(self._details(client_call_details, None), request)

        def messages():
            try:
                yield from call
            except grpc.RpcError as err:
                raise FlowForgeError.from_rpc_error(err) from None

        return messages()


class FlowForge:
    """A client of the gateway at ``target`` (``host:port``) with an API key or a JWT.

    Stubs: ``account``, ``admin``, ``blobs``, ``crypto``, ``data`` (also ``transform``), ``image``,
    ``jobs``, ``llm``, ``math``, ``ocr``, ``pdf``, ``vector``. Every call's error is a
    FlowForgeError; ``timeout`` (seconds) is each unary call's deadline unless it gives its own
    (streams have none unless they give one: a job's events last as long as the job).
    """

    def __init__(
        self,
        target: str = "127.0.0.1:8080",
        api_key: str | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = 60.0,
    ):
        channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
        self._raw = channel
        self.channel = grpc.intercept_channel(channel, _Interceptor(api_key, timeout))
        self.account = account_pb2_grpc.AccountServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.blobs = blob_pb2_grpc.BlobServiceStub(self.channel)
        self.crypto = crypto_pb2_grpc.CryptoServiceStub(self.channel)
        self.data = self.transform = transform_pb2_grpc.TransformServiceStub(self.channel)
        self.image = image_pb2_grpc.ImageServiceStub(self.channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.llm = llm_pb2_grpc.LlmServiceStub(self.channel)
        self.math = math_pb2_grpc.MathServiceStub(self.channel)
        self.ocr = ocr_pb2_grpc.OcrServiceStub(self.channel)
        self.pdf = pdf_pb2_grpc.PdfServiceStub(self.channel)
        self.vector = vector_pb2_grpc.VectorServiceStub(self.channel)

    def call(self, method: str, request: Request, timeout: float | None = None):
        """Calls ``method`` (``flowforge.crypto.v1.CryptoService/Hash`` or ``CryptoService/Hash``)
        with a message or a dict in its JSON form (``{"algorithm": "HASH_ALGORITHM_SHA256", "text":
        "abc"}``); answers its reply (a server stream: an iterator of replies). A dict that does
        not fit raises FlowForgeError naming the field before anything is sent."""
        found = method_named(method)
        if found.client_streaming:
            raise FlowForgeError(
                grpc.StatusCode.INVALID_ARGUMENT, f"{found.full_name} takes a stream of requests: use its stub", []
            )
        message = request_of(found.input_type, request)
        path = f"/{found.containing_service.full_name}/{found.name}"
        reply = message_class(found.output_type)
        open_call = self.channel.unary_stream if found.server_streaming else self.channel.unary_unary
        rpc = open_call(path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=reply.FromString)
        return rpc(message, timeout=timeout)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "FlowForge":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
