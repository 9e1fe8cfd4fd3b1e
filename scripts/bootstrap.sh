#!/usr/bin/env bash
# Fresh Debian 12 -> built vk_symbiote in build/release: dependencies, configure, build, and the
# node packages of the server tests (tests/node: openai and puppeteer-core as package-lock.json pins them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
