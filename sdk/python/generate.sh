#!/usr/bin/env bash
# Generates Python messages and gRPC stubs from proto/ into the directory given (default ./gen).
# Needs Debian's python3-grpc-tools (call the system interpreter: /usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$here/sdk/python/gen"}
mkdir -p "$out"
/usr/bin/python3 -m grpc_tools.protoc \
  -I "$here/proto" -I "$here/third_party/proto" \
  -I /usr/lib/python3/dist-packages/grpc_tools/_proto \
  --python_out="$out" --grpc_python_out="$out" \
  $(cd "$here/proto" && find flowforge -name '*.proto')
# Make every generated directory an importable package.
find "$out" -type d -exec touch {}/__init__.py \;
