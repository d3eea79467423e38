#!/usr/bin/env bash
# The main job: install what attend needs, build it, train the demo German->English
# model on Multi30k (configs/demo.yaml, about ten minutes on 2 cores), translate the
# test2016 set and print its BLEU. The model lands in runs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
data=${ATTEND_DATA:-$(cd .. && pwd)/shared/data}
if [ ! -e "$data/multi30k/train.de.gz" ]; then
  echo "demo: Multi30k not found under $data (set ATTEND_DATA; see docs/data.md)" >&2
  exit 1
fi
export ATTEND_DATA=$data
./build/tools/attend train configs/demo.yaml
./build/tools/attend evaluate --model runs/demo \
  --src "$data/multi30k/test2016.de.gz" --ref "$data/multi30k/test2016.en.gz"
