#!/usr/bin/env bash
# Generates the Python SDK's messages and gRPC stubs from proto/ (the public contracts: the job
# bus left out), with the google.api and google.rpc messages they import, into sdk/python/src
# (or the directory given). `npm run generate` runs it where Debian's python3-grpc-tools is
# installed. Its protoc (3.5) cannot read proto3 `optional`, so buf compiles the protos and
# protoc only writes Python from buf's descriptor set.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$here/sdk/python/src"}
mkdir -p "$out"
# What an earlier run wrote (the SDK's own modules in flowforge/ are kept).
find "$out/flowforge" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} + 2>/dev/null || true
rm -rf "$out/google"
image=$(mktemp --suffix=.binpb)
trap 'rm -f "$image"' EXIT
(cd "$here" && npx --no-install buf build -o "$image" --as-file-descriptor-set)
mapfile -t files < <(
  cd "$here/proto" && find flowforge -name '*.proto' ! -path 'flowforge/bus/*' | sort
  cd "$here/third_party/proto" && find google -name '*.proto' | sort
)
/usr/bin/python3 - "$image" "$out" "${files[@]}" <<'PY'
import sys
from grpc_tools import protoc
image, out, *files = sys.argv[1:]
sys.exit(protoc.main(["protoc", f"--descriptor_set_in={image}", f"--python_out={out}", f"--grpc_python_out={out}", *files]))
PY
# Make every generated directory an importable package, except `google`: a namespace package
# that python3-protobuf's `google.protobuf` shares (an __init__.py there would hide it).
find "$out" -mindepth 1 -type d ! -path "$out/google" ! -name __pycache__ ! -name "*.egg-info" -exec touch {}/__init__.py \;
rm -f "$out/google/__init__.py"
