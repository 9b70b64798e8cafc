#!/usr/bin/env bash
# Rebuilds greeter-v1.wasm and greeter-v2.wasm from common.wat + vN.wat and wit/, with the
# wasm-tools CLI (PyPI `wasm-tools`, installed if missing). The binaries are committed, so a
# fresh machine needs none of this to run the demo or the tests.
set -euo pipefail
cd "$(dirname "$0")"
command -v wasm-tools >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check wasm-tools
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for revision in v1 v2; do
  { echo "(module"; cat common.wat "$revision.wat"; echo ")"; } > "$work/$revision.wat"
  wasm-tools parse "$work/$revision.wat" -o "$work/$revision.core.wasm"
  wasm-tools component embed wit --world greeter "$work/$revision.core.wasm" -o "$work/$revision.embed.wasm"
  wasm-tools component new "$work/$revision.embed.wasm" -o "greeter-$revision.wasm"
  wasm-tools validate --features component-model "greeter-$revision.wasm"
  echo "built greeter-$revision.wasm ($(wc -c < "greeter-$revision.wasm") bytes)"
done
