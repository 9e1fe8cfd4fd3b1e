#!/usr/bin/env bash
# Installs every build and test dependency of vk_symbiote from Debian 12 packages.
# Used by the README's commands and by .ci/run. Idempotent; needs root or sudo.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libvulkan-dev glslc libshaderc-dev spirv-tools mesa-vulkan-drivers vulkan-tools vulkan-validationlayers
  libgtest-dev
  libzstd-dev liblz4-dev libblosc-dev libzfp-dev libxxhash-dev
  nlohmann-json3-dev libcpp-httplib-dev
  libopenmpi-dev openmpi-bin
  nodejs chromium
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm (the server's node tests): Debian's package, unless a node that brings its own is installed.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
