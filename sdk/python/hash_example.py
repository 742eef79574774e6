"""Calls CryptoService/Hash through the FlowForge gateway with Python grpcio.

Stubs come from proto/ (see generate.sh). Usage: python3 hash_example.py <host:port> <api-key>
"""
import sys

import grpc

from flowforge.crypto.v1 import crypto_pb2, crypto_pb2_grpc


def main() -> None:
    target, key = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(target) as channel:
        stub = crypto_pb2_grpc.CryptoServiceStub(channel)
        request = crypto_pb2.HashRequest(algorithm=crypto_pb2.HASH_ALGORITHM_SHA256, text="abc")
        response = stub.Hash(request, metadata=[("authorization", f"Bearer {key}")], timeout=10)
        print(response.digest)
        try:
            stub.Hash(crypto_pb2.HashRequest(text="abc"), metadata=[("authorization", f"Bearer {key}")], timeout=10)
        except grpc.RpcError as err:
            print(err.code().name, err.details())


if __name__ == "__main__":
    main()
