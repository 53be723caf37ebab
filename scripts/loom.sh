#!/usr/bin/env bash
# Loom model check of the native host's group-commit wait
# (host-native/src/flusher/group_commit.rs): every interleaving of writers and
# the flush thread up to LOOM_MAX_PREEMPTIONS (default 2) preemptions.
# Its own target directory: `--cfg loom` rebuilds every dependency, and a
# separate directory keeps the ordinary build cache intact.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
  cargo test --locked -p rocketlog --no-default-features --release --lib \
  flusher::group_commit::loom_model -- "$@"
