#!/bin/bash
# attend vs the PyTorch peer (../shared/bench/torch_transformer.py), side by side on the
# same workloads, alternating A B A B ... so that a busy moment of this shared machine
# hits both. Writes a table of medians and ratios into docs/benchmarks.md between the
# "compare.sh" markers; this table is the only place a speed claim is made.
#
#   bench/compare.sh                 # every workload, 3 rounds (~10 minutes)
#   ROUNDS=5 bench/compare.sh        # more rounds
#   WORKLOADS="train-small-fp32 infer-base-bf16" bench/compare.sh   # a subset
#   NO_DOC=1 bench/compare.sh        # print the table only
#
# Needs: a built attend (build/tools/attend; BUILD=dir to use another build), Debian's
# python3-torch, python3-numpy, libopenblas0-openmp and libtcmalloc-minimal4 (installed
# with apt-get when missing). The peer runs through ../shared/bench/torch_env.sh, its tuned
# environment (OpenMP OpenBLAS, tcmalloc), with OPENBLAS_CORETYPE unset so that the script
# picks its Cooperlake AVX-512 kernels (this machine exports Haswell, which is slower).
# Both programs run with OMP_WAIT_POLICY=passive (override: OMP_WAIT_POLICY=active ...):
# on this shared 2-core machine, OpenMP threads that spin at each barrier while another
# job holds a core make both programs 2-5x slower at random; passive waiting keeps the
# figures stable under load and costs little when the machine is idle.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
[ -d "$SHARED/bench" ] || SHARED=/work/shared
PEER_DIR=$SHARED/bench
ATTEND=${ATTEND:-${BUILD:-$ROOT/build}/tools/attend}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
DOC=$ROOT/docs/benchmarks.md
PY=/usr/bin/python3
OUT=$(mktemp -d /tmp/attend-compare.XXXXXX)

[ -x "$ATTEND" ] || { echo "compare.sh: $ATTEND not found; build first (scripts/build.sh)" >&2; exit 1; }
[ -f "$PEER_DIR/torch_transformer.py" ] || { echo "compare.sh: no peer at $PEER_DIR" >&2; exit 1; }

# --- the peer's packages (apt only) -------------------------------------------------
missing=()
$PY -c 'import torch, numpy' 2>/dev/null || missing+=(python3-torch python3-numpy)
[ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 ] || missing+=(libopenblas0-openmp)
[ -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ] || missing+=(libtcmalloc-minimal4)
if [ ${#missing[@]} -gt 0 ]; then
  echo "compare.sh: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

# --- workloads: name -> common flags (both programs take them) ------------------------
# Steps are cut from the defaults where a step is long, to keep the whole run < 15 min.
declare -A FLAGS=(
  [train-small-fp32]="--preset small --mode train --steps 5 --warmup 2"
  [train-small-bf16]="--preset small --mode train --steps 5 --warmup 2"
  [train-base-fp32]="--preset base --mode train --steps 3 --warmup 1"
  [train-base-bf16]="--preset base --mode train --steps 3 --warmup 1"
  [infer-small-fp32]="--preset small --mode infer --steps 5 --warmup 2"
  [infer-small-bf16]="--preset small --mode infer --steps 5 --warmup 2"
  [infer-base-fp32]="--preset base --mode infer --steps 3 --warmup 1"
  [infer-base-bf16]="--preset base --mode infer --steps 3 --warmup 1"
  # beam 4: attend only (the peer decodes greedily only)
  [beam4-small-fp32]="--preset small --mode infer --steps 5 --warmup 2 --beam 4"
  [beam4-base-fp32]="--preset base --mode infer --steps 3 --warmup 1 --beam 4"
)
ALL="train-small-fp32 train-small-bf16 train-base-fp32 train-base-bf16 infer-small-fp32 infer-small-bf16 infer-base-fp32 infer-base-bf16 beam4-small-fp32 beam4-base-fp32"
WORKLOADS=${WORKLOADS:-$ALL}
# Memory against length (train small, one step each, issue 7): source = target length, at a
# fixed number of tokens per batch (batch = SCAN_TOKENS / length), so that only attention's
# dependence on the length shows. The peer keeps (B,H,T,S) tensors; lengths above
# PEER_MAX_LEN, or runs longer than PEER_TIMEOUT seconds, are skipped for it ("–").
LENGTHS=${LENGTHS:-"128 256 512 1024"}
SCAN_TOKENS=${SCAN_TOKENS:-8192}
PEER_MAX_LEN=${PEER_MAX_LEN:-1024}
PEER_TIMEOUT=${PEER_TIMEOUT:-600}

run_attend() {  # workload round -> one JSON line in $OUT
  local w=$1 r=$2 prec=${1##*-}
  OMP_NUM_THREADS=$THREADS "$ATTEND" bench ${FLAGS[$w]} --threads "$THREADS" --precision "$prec" \
    2>"$OUT/$w.attend.$r.log" | tail -n 1 >"$OUT/$w.attend.$r.json"
}
run_peer() {
  local w=$1 r=$2 prec=${1##*-} bf=
  [ "${w%%-*}" = beam4 ] && return 0  # no beam search in the peer
  [ "$prec" = bf16 ] && bf=--bf16
  env -u OPENBLAS_CORETYPE "$PEER_DIR/torch_env.sh" $PY "$PEER_DIR/torch_transformer.py" ${FLAGS[$w]} \
    --threads "$THREADS" $bf 2>"$OUT/$w.peer.$r.log" | sed -n 's/^RESULT //p' >"$OUT/$w.peer.$r.json"
}

start=$(date +%s)
load=$(cut -d' ' -f1 /proc/loadavg)
echo "compare.sh: rounds $ROUNDS, threads $THREADS, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load $load, results in $OUT" >&2
for w in $WORKLOADS; do
  [ -n "${FLAGS[$w]:-}" ] || { echo "compare.sh: unknown workload $w (valid: $ALL)" >&2; exit 1; }
  for r in $(seq 1 "$ROUNDS"); do
    # alternate which goes first, so neither always follows the other
    if [ $((r % 2)) -eq 1 ]; then run_attend "$w" "$r"; run_peer "$w" "$r"; else run_peer "$w" "$r"; run_attend "$w" "$r"; fi
    echo "  $w round $r: attend $(grep -o '"tgt_tokens_per_s": *[0-9.]*' "$OUT/$w.attend.$r.json" | grep -o '[0-9.]*$')" \
         "peer $(grep -so '"tgt_tokens_per_s": *[0-9.]*' "$OUT/$w.peer.$r.json" | grep -o '[0-9.]*$') tok/s" >&2
  done
done
# The oneDNN f32 gemm rate on the products of a base training step (batch 64 x 30 = 1920
# rows: FFN forward, its two gradients, the output layer), measured in this run so that a
# base training step's achieved GFLOP/s can be read as a fraction of it (issue 7: >= 75%).
BENCH_CORE=${BENCH_CORE:-$(dirname "$ATTEND")/../bench/bench_core}
if [ -x "$BENCH_CORE" ] && [[ " $WORKLOADS " == *" train-base-fp32 "* ]]; then
  OMP_NUM_THREADS=$THREADS "$BENCH_CORE" --benchmark_filter='gemm_precision/fp32/(fwd|dx|dw)' \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_format=json \
    >"$OUT/gemm.json" 2>/dev/null || true
fi
for len in $LENGTHS; do
  [ "${MEMORY:-1}" = 1 ] || break
  batch=$((SCAN_TOKENS / len))
  [ "$batch" -ge 1 ] || { echo "compare.sh: length $len > SCAN_TOKENS $SCAN_TOKENS" >&2; exit 1; }
  OMP_NUM_THREADS=$THREADS "$ATTEND" bench --preset small --mode train --steps 1 --warmup 1 --batch "$batch" \
    --src-len "$len" --tgt-len "$len" --threads "$THREADS" 2>/dev/null | tail -n 1 >"$OUT/mem-$len.attend.json"
  if [ "$len" -le "$PEER_MAX_LEN" ]; then
    env -u OPENBLAS_CORETYPE timeout "$PEER_TIMEOUT" "$PEER_DIR/torch_env.sh" $PY "$PEER_DIR/torch_transformer.py" \
      --preset small --mode train --steps 1 --warmup 1 --batch "$batch" --src-len "$len" --tgt-len "$len" \
      --threads "$THREADS" 2>/dev/null | sed -n 's/^RESULT //p' >"$OUT/mem-$len.peer.json" || true
  fi
  echo "  memory scan length $len, batch $batch: attend $(grep -o '"peak_rss_mib": *[0-9.]*' "$OUT/mem-$len.attend.json" |
    grep -o '[0-9.]*$') MiB, peer $(grep -so '"peak_rss_mib": *[0-9.]*' "$OUT/mem-$len.peer.json" | grep -o '[0-9.]*$') MiB" >&2
done
end=$(date +%s)

# --- the table --------------------------------------------------------------------------
TABLE=$OUT/table.md
$PY - "$OUT" "$ROUNDS" "$THREADS" "$load" "$((end - start))" "$WORKLOADS" "${MEMORY:-1}" "$LENGTHS" "$OMP_WAIT_POLICY" \
  "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')" "$SCAN_TOKENS" "$PEER_MAX_LEN" "$PEER_TIMEOUT" \
  >"$TABLE" <<'EOF'
import json, statistics, sys, datetime, os
out, rounds, threads, load, secs, workloads, memory, lengths, policy, commit, scan_tokens, peer_max, peer_timeout = sys.argv[1:]
rounds = int(rounds)
goal = {"fp32": 1.5, "bf16": 2.0}

def runs(w, who):
    res = []
    for r in range(1, rounds + 1):
        p = f"{out}/{w}.{who}.{r}.json"
        try:
            res.append(json.load(open(p)))
        except Exception:
            pass
    return res

def med(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(v) if v else None

print(f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC at commit {commit}, {threads} threads, "
      f"OMP_WAIT_POLICY={policy} for both, "
      f"{rounds} alternating rounds per workload (median of each program's rounds; each round's figure is "
      f"itself the median of its timed steps), 1-minute load {load} at the start, {int(secs) // 60} min "
      f"{int(secs) % 60} s in all.\n")
print("| workload | attend tok/s | PyTorch tok/s | attend / PyTorch | goal | met? | attend GFLOP/s | attend peak RSS MiB | PyTorch peak RSS MiB | RSS ratio |")
print("|---|--:|--:|--:|--:|:-:|--:|--:|--:|--:|")
unmet = []
for w in workloads.split():
    mode, preset, prec = w.split("-")
    a, p = runs(w, "attend"), runs(w, "peer")
    ta, tp = med(a, "tgt_tokens_per_s"), med(p, "tgt_tokens_per_s")
    ra, rp = med(a, "peak_rss_mib"), med(p, "peak_rss_mib")
    ratio = ta / tp if ta and tp else None
    met = ratio is not None and ratio >= goal[prec]
    name = f"{ {'train': 'train', 'infer': 'greedy decode', 'beam4': 'beam 4 decode'}[mode]} {preset} {prec}"
    if ratio is not None and not met:
        unmet.append(f"{name}: {ratio:.2f}x, goal {goal[prec]}x (attend needs {goal[prec] / ratio:.2f}x its speed)")
    gf = med(a, "achieved_gflops")
    rss_ratio = ra / rp if ra and rp else None
    rss_cell = f"{rss_ratio:.2f}" + (("" if rss_ratio <= 0.6 else " (goal ≤ 0.6)") if mode == "train" else "") if rss_ratio else "–"
    f = lambda x, d=0: f"{x:.{d}f}" if x is not None else "–"
    if mode == "beam4":  # attend only
        print(f"| {name} | {f(ta)} | – | – | – | – | – | {f(ra)} | – | – |")
        continue
    print(f"| {name} | {f(ta)} | {f(tp)} | {f(ratio, 2)}× | ≥ {goal[prec]}× | {'yes' if met else 'no'} | "
          f"{f(gf, 1) if gf else '–'} | {f(ra)} | {f(rp)} | {rss_cell} |")
print()
if any(w.startswith("beam4") for w in workloads.split()):
    print("Beam 4 decode: attend only (the peer has no beam search); tok/s counts the tokens of the output "
          "sentences. CTranslate2's figure for the small shape (fp32, from issue 7) is about 1670 tok/s.\n")
try:  # the gemm rate of this run (bench_core), for train base fp32's fraction of it
    rates = [b["FLOP"] / 1e9 for b in json.load(open(f"{out}/gemm.json"))["benchmarks"]
             if b.get("aggregate_name") == "median"]
except Exception:
    rates = []
base = runs("train-base-fp32", "attend")
if rates and base:
    gemm = statistics.mean(rates)
    frac = med(base, "achieved_gflops") / gemm
    print(f"train base fp32 against the gemm limit: attend's step achieves {med(base, 'achieved_gflops'):.1f} GFLOP/s, "
          f"{100 * frac:.0f}% of the oneDNN f32 gemm rate measured in this run ({gemm:.1f} GFLOP/s: the mean over "
          f"the base step's product shapes, bench_core `gemm_precision/fp32/(fwd|dx|dw)`, median of 3); goal ≥ 75%: "
          f"{'met' if frac >= 0.75 else 'not met'}.\n")
    if frac < 0.75:
        unmet.append(f"train base fp32 at {100 * frac:.0f}% of the gemm rate, goal 75%")
for w in workloads.split():
    if w.startswith("train"):
        ra, rp = med(runs(w, "attend"), "peak_rss_mib"), med(runs(w, "peer"), "peak_rss_mib")
        if ra and rp and ra / rp > 0.6:
            unmet.append(f"{w} peak RSS {ra / rp:.2f}x PyTorch's, goal 0.6x")
if unmet:
    print("Not met yet: " + "; ".join(unmet) + ".\n")
elif any(not w.startswith("beam4") for w in workloads.split()):
    print("Every speed goal in the table is met.\n")
if memory == "1":
    tokens = int(scan_tokens)
    print(f"Peak RSS of training (train small fp32, {tokens} source and {tokens} target tokens per batch, "
          "batch = tokens / length, one step after one warm-up) against sentence length "
          f"(PyTorch skipped above length {peer_max} or after {peer_timeout} s: –):\n")
    print("| source = target length | batch | attend MiB | PyTorch MiB | attend / PyTorch | attend tok/s | PyTorch tok/s |")
    print("|--:|--:|--:|--:|--:|--:|--:|")
    def load_json(path):
        try:
            return json.load(open(path))
        except Exception:
            return None
    f = lambda x, d=0: f"{x:.{d}f}" if x is not None else "–"
    rss = {"attend": {}, "peer": {}}
    for n in lengths.split():
        a, p = load_json(f"{out}/mem-{n}.attend.json"), load_json(f"{out}/mem-{n}.peer.json")
        ra, rp = (a or {}).get("peak_rss_mib"), (p or {}).get("peak_rss_mib")
        rss["attend"][n], rss["peer"][n] = ra, rp
        print(f"| {n} | {tokens // int(n)} | {f(ra)} | {f(rp)} | {f(ra / rp if ra and rp else None, 2)} | "
              f"{f((a or {}).get('tgt_tokens_per_s'))} | {f((p or {}).get('tgt_tokens_per_s'))} |")
    ls = lengths.split()
    if len(ls) > 1:
        lo, hi = ls[0], ls[-1]
        growth = lambda who: rss[who][hi] / rss[who][lo] if rss[who][hi] and rss[who][lo] else None
        print(f"\nPeak RSS at length {hi} / at length {lo}: attend {f(growth('attend'), 2)}×, "
              f"PyTorch {f(growth('peer'), 2)}× (issue 7's goal for attend: ≤ 1.5× from 128 to 1024).")
    print()
EOF
cat "$TABLE"

if [ -z "${NO_DOC:-}" ]; then
  BEGIN='<!-- compare.sh: begin (generated; do not edit by hand) -->'
  END='<!-- compare.sh: end -->'
  $PY - "$DOC" "$TABLE" "$BEGIN" "$END" <<'EOF'
import sys
doc, table, begin, end = sys.argv[1:]
text = open(doc).read()
body = begin + "\n" + open(table).read() + end
if begin in text and end in text:
    text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n## attend vs PyTorch (bench/compare.sh)\n\n" + body + "\n"
open(doc, "w").write(text)
EOF
  echo "compare.sh: table written to $DOC" >&2
fi
