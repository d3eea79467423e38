#!/usr/bin/env bash
# Configures and builds attend (Release) into build/ (or $ATTEND_BUILD_DIR).
# Extra arguments go to CMake's configure step, e.g. -DATTEND_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ATTEND_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${ATTEND_BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
