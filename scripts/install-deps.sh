#!/usr/bin/env bash
# Installs exactly the Debian 12 packages attend needs to build, test and benchmark.
# Safe to re-run: packages already present are left alone, and apt's index is
# refreshed only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev                       # oneDNN: primary gemm backend (bf16 on AMX or AVX512-BF16)
  libopenblas0-openmp               # BLAS fallback (OpenMP build, loaded at run time)
  libyaml-cpp-dev                   # config files
  libspdlog-dev libfmt-dev          # logging
  libsentencepiece-dev sentencepiece  # tokenization, in-process
  libcli11-dev                      # command line
  nlohmann-json3-dev                # safetensors header, metrics
  zlib1g-dev                        # .gz corpora
  libgtest-dev libgmock-dev         # tests
  libbenchmark-dev                  # micro-benchmarks
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "install-deps: all packages present" >&2
