#!/usr/bin/env bash
# Builds the web page into web-demo/dist/: the rocketlog-wasm crate (feature
# `browser`) for wasm32-unknown-unknown, wasm-bindgen --target web, static files.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

rustup target add wasm32-unknown-unknown >/dev/null
# wasm-bindgen-cli must match the crate's `wasm-bindgen = "=0.2.130"` exactly.
# (Not --locked: the locked webpki-roots is missing from the index.)
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen 0.2.130" ]; then
  cargo install wasm-bindgen-cli --version =0.2.130
fi

cargo build --release --target wasm32-unknown-unknown -p rocketlog-wasm \
  --no-default-features --features browser
rm -rf web-demo/dist
mkdir -p web-demo/dist/pkg
wasm-bindgen --target web --out-dir web-demo/dist/pkg \
  target/wasm32-unknown-unknown/release/rocketlog_wasm.wasm
cp web-demo/index.html web-demo/style.css web-demo/main.js web-demo/worker.js \
  web-demo/charts.js web-demo/dist/
echo "built web-demo/dist ($(du -sh web-demo/dist | cut -f1))"
