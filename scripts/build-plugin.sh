#!/usr/bin/env bash
# Builds the sandboxed plugin into target/plugin/:
#   rocketlog_plugin.wasm     core module, C ABI, no imports (wasm32-unknown-unknown, feature `plugin`)
#   rocketlog_component.wasm  WebAssembly component, WIT world rocketlog:plugin/plugin (wasm32-wasip2, feature `component`)
# Both are built without the default `browser` feature (no wasm-bindgen inside), in
# their own target directory so that they do not disturb the browser build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null

BUILD_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/plugin-build"
OUT="$ROOT/target/plugin"
mkdir -p "$OUT"

# No debug info in the plugin (the workspace release profile keeps line tables);
# panics abort on both wasm targets, and the plugin is written not to panic.
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=true
export CARGO_PROFILE_RELEASE_PANIC=abort

build() { # target feature artifact
    CARGO_TARGET_DIR="$BUILD_DIR" cargo build --release --locked -p rocketlog-wasm \
        --no-default-features --features "$2" --target "$1"
    cp "$BUILD_DIR/$1/release/rocketlog_wasm.wasm" "$OUT/$3"
}

build wasm32-unknown-unknown plugin rocketlog_plugin.wasm
build wasm32-wasip2 component rocketlog_component.wasm
ls -l "$OUT"/*.wasm
