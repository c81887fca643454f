#!/usr/bin/env python3
"""Prints, per video, how many sampled frames have a face, from the records of `landmarks`."""
import json, os, sys
from collections import OrderedDict

path = sys.argv[1]
stats = OrderedDict()
with open(path) as f:
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        r = json.loads(line)
        s = stats.setdefault(r.get("video", r.get("image", "?")), {"frames": 0, "face": 0, "err": 0, "widths": [], "crops": 0})
        s["frames"] += 1
        if "error" in r:
            s["err"] += 1
            continue
        faces = r.get("faces", [])
        if faces:
            s["face"] += 1
            b = faces[0]["box"]
            s["widths"].append(b[2] - b[0])
            s["crops"] += sum(1 for x in faces if "crop" in x)
rows = [("video", "frames", "with face", "largest face (px, median)", "crops", "errors")]
for v, s in stats.items():
    w = sorted(s["widths"])
    rows.append((os.path.basename(v), str(s["frames"]), f"{s['face']} ({100 * s['face'] / max(s['frames'], 1):.0f}%)",
                 str(w[len(w) // 2]) if w else "-", str(s["crops"]), str(s["err"])))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for i, r in enumerate(rows):
    print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    if i == 0:
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
print(f"\nframe level: {sum(s['frames'] for s in stats.values())} sampled frames (32 per video, integer linspace), "
      f"dlib HOG detector (faces of every size, docs/detectors.md) + 68-point predictor; records in {path}")
