#!/usr/bin/env bash
# Fresh Debian 12 -> built vk_symbiote in build/release: dependencies, configure, build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
