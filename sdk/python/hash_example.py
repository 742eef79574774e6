"""Calls CryptoService/Hash and JobService through the FlowForge gateway with Python grpcio.

Stubs come from proto/ (see generate.sh). Usage: python3 hash_example.py <host:port> <api-key>
"""
import sys

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from flowforge.crypto.v1 import crypto_pb2, crypto_pb2_grpc
from flowforge.jobs.v1 import jobs_pb2, jobs_pb2_grpc


def bad_fields(err: grpc.RpcError) -> list[str]:
    """The fields a google.rpc.BadRequest in the error's `grpc-status-details-bin` names."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    return [v.field for v in bad.field_violations]
    return []


def main() -> None:
    target, key = sys.argv[1], sys.argv[2]
    auth = [("authorization", f"Bearer {key}")]
    with grpc.insecure_channel(target) as channel:
        stub = crypto_pb2_grpc.CryptoServiceStub(channel)
        request = crypto_pb2.HashRequest(algorithm=crypto_pb2.HASH_ALGORITHM_SHA256, text="abc")
        response = stub.Hash(request, metadata=auth, timeout=10)
        print(response.digest)
        try:
            stub.Hash(crypto_pb2.HashRequest(text="abc"), metadata=auth, timeout=10)
        except grpc.RpcError as err:
            print(err.code().name, err.details(), bad_fields(err))
        # The same call as a job, its answer read back from the job's item.
        jobs = jobs_pb2_grpc.JobServiceStub(channel)
        packed = any_pb2.Any()
        packed.Pack(request)
        job = jobs.SubmitJob(
            jobs_pb2.SubmitJobRequest(method="flowforge.crypto.v1.CryptoService/Hash", request=packed),
            metadata=auth,
            timeout=10,
        ).job
        for event in jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id), metadata=auth, timeout=30):
            if event.WhichOneof("event") == "item_finished":
                result = crypto_pb2.HashResponse()
                event.item_finished.item.result.Unpack(result)
                print(jobs_pb2.ItemState.Name(event.item_finished.item.state), result.digest)


if __name__ == "__main__":
    main()
