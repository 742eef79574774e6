"""Calls CryptoService/Hash through the FlowForge gateway with the Python SDK, reads an error's
bad field, and runs the same call as a job.

Usage: python3 hash_example.py <host:port> <api-key> (with the SDK installed, or PYTHONPATH=sdk/python/src)
"""
import sys

from flowforge import FlowForge, FlowForgeError, run
from flowforge.crypto.v1 import crypto_pb2


def main() -> None:
    target, key = sys.argv[1], sys.argv[2]
    with FlowForge(target, key) as ff:
        request = crypto_pb2.HashRequest(algorithm=crypto_pb2.HASH_ALGORITHM_SHA256, text="abc")
        print(ff.crypto.Hash(request).digest)
        try:
            ff.crypto.Hash(crypto_pb2.HashRequest(text="abc"))
        except FlowForgeError as err:
            print(err.code.name, err.message, err.fields)
        # The same call as a job, its answer read back from the job's item.
        for outcome in run(ff, "flowforge.crypto.v1.CryptoService/Hash", [request]):
            print("succeeded" if outcome.ok else "failed", outcome.value.digest)


if __name__ == "__main__":
    main()
