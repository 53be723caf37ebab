#!/usr/bin/env bash
# The full test command (README, .ci/run). Installs what it needs, then runs every
# check: formatting, lints, no_std builds, unit/integration/crash tests, the wasm
# builds, the browser test in Chromium and the plugin hosts (Rust and Python).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

# Each step also says how much disk is left: the builds take several GB,
# and a full disk shows up as errors far from its cause.
step() {
  printf '\n==> %s\n' "$*"
  df -h . "${TMPDIR:-/tmp}" 2>/dev/null | awk 'NR > 1 { print "    (disk: " $4 " free on " $6 ")" }' | sort -u
}

step "install: Rust targets, wasm-bindgen-cli 0.2.130, Chromium, npm and Python packages"
rustup target add wasm32-unknown-unknown wasm32-wasip1 wasm32-wasip2 thumbv7em-none-eabihf
# Must match the crate's `wasm-bindgen = "=0.2.130"` exactly. Not --locked: a locked
# transitive version is missing from the registry index.
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen 0.2.130" ]; then
  cargo install wasm-bindgen-cli --version =0.2.130
fi
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update
  # A concurrent dpkg run can make the first attempt fail; retry once.
  apt-get install -y chromium chromium-driver || apt-get install -y chromium chromium-driver
fi
npm ci --no-audit --no-fund
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet wasmtime==50.0.1

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rocketlog-core builds without std (wasm32-unknown-unknown, thumbv7em-none-eabihf)"
cargo build --locked -p rocketlog-core --target wasm32-unknown-unknown
cargo build --locked -p rocketlog-core --target thumbv7em-none-eabihf

step "wasm builds: the web page (web-demo/dist) and the plugin (target/plugin)"
bash scripts/build-web.sh
bash scripts/build-plugin.sh

step "unit, integration, fixture, crash-matrix, CLI and plugin-host tests"
cargo test --workspace --locked

step "crash matrices (both engines; one summary line each)"
cargo test --locked -q -p rocketlog-tests --test dledger_engine_crash --test rocketmq_engine_crash -- --nocapture 2>&1 \
  | grep -E "crash-matrix|test result"

step "rocketlog-wasm API tests (wasm-bindgen-test under node)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --locked -p rocketlog-wasm --target wasm32-unknown-unknown

step "browser: cross-host equivalence (node) and the page in Chromium (playwright-core)"
node tests/js/equivalence.mjs
node tests/js/e2e.mjs

step "Python plugin host"
.venv/bin/python examples/python/test_decode.py

step "fuzz smoke (every cargo-fuzz target, bounded; crashers are replayed by cargo test above)"
bash scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-10}"

step "loom model check of the group-commit wait"
bash scripts/loom.sh
