#!/usr/bin/env bash
# Builds the page and serves web-demo/dist on 127.0.0.1 (static files only).
# Usage: scripts/serve-web.sh [port]   (default 8765)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-web.sh
port="${1:-8765}"
echo "serving: http://127.0.0.1:${port}/index.html   (Ctrl-C to stop)"
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory web-demo/dist
