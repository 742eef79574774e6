#!/usr/bin/env bash
# Generates Python messages and gRPC stubs from proto/, and the google.api and google.rpc messages
# they import (error details included), into the directory given (default ./gen).
# Needs Debian's python3-grpc-tools (call the system interpreter: /usr/bin/python3). Its protoc
# (3.5) cannot read proto3 `optional`, so buf compiles the protos and protoc only writes Python
# from buf's descriptor set.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$here/sdk/python/gen"}
mkdir -p "$out"
image=$(mktemp --suffix=.binpb)
trap 'rm -f "$image"' EXIT
(cd "$here" && npx --no-install buf build -o "$image" --as-file-descriptor-set)
mapfile -t files < <(
  cd "$here/proto" && find flowforge -name '*.proto'
  cd "$here/third_party/proto" && find google -name '*.proto'
)
/usr/bin/python3 - "$image" "$out" "${files[@]}" <<'PY'
import sys
from grpc_tools import protoc
image, out, *files = sys.argv[1:]
sys.exit(protoc.main(["protoc", f"--descriptor_set_in={image}", f"--python_out={out}", f"--grpc_python_out={out}", *files]))
PY
# Make every generated directory an importable package, except `google`: a namespace package
# that python3-protobuf's `google.protobuf` shares (an __init__.py there would hide it).
find "$out" -type d ! -path "$out/google" -exec touch {}/__init__.py \;
rm -f "$out/google/__init__.py"
