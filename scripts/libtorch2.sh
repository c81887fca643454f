#!/usr/bin/env bash
# The libtorch inside a PyTorch 2.x wheel, unpacked under .cache/libtorch2/<version>/torch (include/ and lib/, the
# layout LIBTORCH= expects). Prints that directory. The wheel comes from PyPI's find-links / the PyTorch CPU index
# (the plain PyPI wheel is the CUDA build, whose libtorch_cuda needs NVIDIA's runtime wheels as well).
#   scripts/libtorch2.sh [VERSION]     default: 2.13.0+cpu (TORCH2_VERSION)
# A CUDA user points LIBTORCH at an installed PyTorch instead (docs/gpu.md):
#   LIBTORCH=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))') swift build -c release
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-${TORCH2_VERSION:-2.13.0+cpu}}"
CACHE="${DFK_CACHE:-$PWD/.cache}"
DL="$CACHE/downloads"
DEST="$CACHE/libtorch2/$VERSION"
say() { printf 'libtorch2: %s\n' "$*" >&2; }
if [[ ! -f "$DEST/.complete" ]]; then
  mkdir -p "$DL"
  wheel=$(compgen -G "$DL/torch-${VERSION}-cp3*-manylinux*_x86_64.whl" | head -n1 || true)
  if [[ -z "$wheel" ]]; then
    say "downloading torch==$VERSION (CPU wheel)"
    pip download -q --no-deps --only-binary=:all: --retries 1 --python-version 3.11 --platform manylinux_2_28_x86_64 \
      --extra-index-url https://download.pytorch.org/whl/cpu -d "$DL" "torch==$VERSION" >&2 \
      || { say "cannot download torch==$VERSION: put its wheel (torch-$VERSION-cp311-*.whl) into $DL"; exit 1; }
    wheel=$(compgen -G "$DL/torch-${VERSION}-cp3*-manylinux*_x86_64.whl" | head -n1)
  fi
  say "unpacking $(basename "$wheel")"
  rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp"
  python3 - "$wheel" "$DEST.tmp" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.startswith(("torch/include/", "torch/lib/", "torch/share/cmake/")) or n == "torch/version.py"]
    z.extractall(out, names)
PY
  [[ -f "$DEST.tmp/torch/lib/libtorch_cpu.so" && -f "$DEST.tmp/torch/include/torch/csrc/api/include/torch/version.h" ]] \
    || { say "$(basename "$wheel") holds no libtorch (torch/lib/libtorch_cpu.so)"; exit 1; }
  touch "$DEST.tmp/.complete"
  rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
fi
echo "$DEST/torch"
