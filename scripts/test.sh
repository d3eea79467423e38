#!/usr/bin/env bash
# Installs what attend needs, builds it, and runs every test:
#   1. the whole GoogleTest suite (ctest) on the Release build;
#   2. every suite but perf (benchmark smoke tests) again under AddressSanitizer + UBSan.
# Tests that need ../shared/data (or $ATTEND_DATA) skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)")

echo "== sanitizers (address, undefined) ==" >&2
ATTEND_BUILD_DIR=build-asan ATTEND_BUILD_TYPE=RelWithDebInfo bash scripts/build.sh -DATTEND_SANITIZE=ON -DATTEND_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j"$(nproc)" -LE perf)
