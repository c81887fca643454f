#!/usr/bin/env python3
"""Tables I, II and IV of the RoGA paper beside our results, as Markdown and CSV.

Reads the CSVs written by `metrics --per-method` under OUT/metrics/<model>/<set>.csv (pipelines/reproduce-roga.mk),
where <model> is all-<optimiser> (trained on every manipulation) or no-<method>-<optimiser> (that manipulation left
out). The DeepfakeBench protocol reports frame-level AUC; video-level AUC (frames grouped by video) is given too.
"""
import argparse, os

import tablelib
from tablelib import metric, write

SETS = [("cdf1", "CDF-v1", "CDF-v1"), ("cdf", "CDF-v2", "CDF"), ("uadfv", "UADFV", "UADFV"), ("dfdc", "DFDC", "DFDC"),
        ("dfdcp", "DFDCP", "DFDCP")]
PAPER1 = [("Xception (paper)", [.779, .737, .937, .708, .737]), ("EfficientB4 (paper)", [.791, .749, .947, .696, .728]),
          ("UCF (paper)", [.779, .753, .953, .719, .759]), ("AdaForensics (paper)", [.869, .793, .955, .747, .779]),
          ("RoGA, ResNet-34 (paper)", [.877, .858, .959, .751, .753])]
# Table II: held-out manipulation -> (ACC %, AUC %).
PAPER2 = {"Deepfakes": (80.13, 90.08), "Face2Face": (76.34, 86.54), "FaceSwap": (93.41, 98.08), "NeuralTextures": (59.43, 70.52)}
# Table IV: optimiser -> (AUC, ACC) trained on FS+F2F+NT tested on DF, then (AUC, ACC) trained on FF++ tested on UADFV.
PAPER4 = {"adam": (92.96, 83.83, 81.63, 55.98), "sgd": (92.27, 84.82, 76.45, 56.18), "sam": (93.18, 83.39, 81.50, 50.63),
          "sagm": (93.05, 84.46, 85.13, 59.86), "roga": (93.63, 85.30, 95.95, 62.08)}
OPT_NAMES = {"adam": "Adam", "sgd": "SGD", "sam": "SAM", "sagm": "SAGM", "roga": "RoGA"}
ROWS1 = [("all-roga", "RoGA (ours)"), ("all-sgd", "ERM, SGD (ours)"), ("all-sam", "SAM (ours)")]
PROTOCOL = ("DeepfakeBench protocol: 32 evenly spaced frames per video, every frame scored (dlib faces, the checkpoint's "
            "crop, max over faces; a frame without a face scores 0.5), frame-level metrics over all frames with their "
            "video's label; video level = mean over a video's frames with a face. Training: FF++ c23, the manipulation "
            "methods as domains; checkpoint = best validation AUC on the FF++ val split (never a test set). ACC at 0.5.")
DEMO = ("Demo set (toy data: a handful of identities; the numbers show the pipeline works, nothing more): the demo "
        "set's manipulations (face-swap, reenact, blend) are the domains; its test videos (identities unseen in "
        "training) are the only test set.")


def value(path, group, level, column):
    """A metric (AUC or ACC) as a fraction, or None."""
    return metric(path, group, level, column)


def fmt(v, scale=1, digits=3):
    return tablelib.fmt(v, scale, digits)


def table1(a):
    sets = a.sets.split()
    cols = [("demo", "demo set", "demo-set")] if a.demo else SETS
    head = [c[1] for c in cols] + ([] if a.demo else ["Avg", "in-domain"])
    lines = ["| Method (AUC; level per row) | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    rows = [["method"] + head]
    if not a.demo:
        for name, pv in PAPER1:
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in pv) + f" | {sum(pv) / len(pv):.3f} | - |")
            rows.append([name] + pv + [sum(pv) / len(pv), None])
    indomain_group = "demo-set/all" if a.demo else "FF++/all"
    for model, name in ROWS1:
        for level in ("frame", "video"):
            ours = [value(f"{a.out}/metrics/{model}/{s}.csv", f"{g}/all", level, 5) if s in sets else None for s, _, g in cols]
            avg = sum(ours) / len(ours) if all(v is not None for v in ours) else None
            ind = value(f"{a.out}/metrics/{model}/{a.indomain}.csv", indomain_group, level, 5)
            label = f"{name}, {level} level"
            if a.demo:
                lines.append(f"| {label} | " + " | ".join(fmt(v) for v in ours) + " |")
                rows.append([label] + ours)
            else:
                lines.append(f"| {label} | " + " | ".join(fmt(v) for v in ours) + f" | {fmt(avg)} | {fmt(ind)} |")
                rows.append([label] + ours + [avg, ind])
    lines += ["", "Table I: AUC (fraction). " + (DEMO if a.demo else "In-domain = the FF++ c23 test split. " + PROTOCOL)]
    write(a.out, "table1", lines, rows)


def table2(a):
    methods = a.methods.split()
    head = [f"{m} ACC | {m} AUC" for m in methods]
    lines = ["| Method (frame-level ACC / AUC %) | " + " | ".join(head) + " |", "|---|" + "---|---|" * len(methods)]
    rows = [["method"] + [f"{m} {k}" for m in methods for k in ("ACC", "AUC")]]
    group = "demo-set" if a.demo else "FF++"
    if not a.demo:
        pv = [x for m in methods for x in PAPER2.get(m, (None, None))]
        lines.append("| RoGA (paper) | " + " | ".join("-" if v is None else f"{v:.2f}" for v in pv) + " |")
        rows.append(["RoGA (paper)"] + pv)
    ours = []
    for m in methods:
        path = f"{a.out}/metrics/no-{m}-roga/{a.indomain}.csv"
        ours += [value(path, f"{group}/{m}", "frame", 8), value(path, f"{group}/{m}", "frame", 5)]
    lines.append("| RoGA (ours), frame level | " + " | ".join(fmt(v, 100, 2) for v in ours) + " |")
    rows.append(["RoGA (ours)"] + ours)
    lines += ["", "Table II: leave one manipulation out - trained on the others, tested on the held-out one's fakes against "
              "all real test videos (%). " + (DEMO if a.demo else PROTOCOL)]
    write(a.out, "table2", lines, rows)


def table4(a):
    held = a.methods.split()[0]
    group = "demo-set" if a.demo else "FF++"
    head = [f"no {held} -> {held} AUC", "ACC"] + ([] if a.demo else ["FF++ -> UADFV AUC", "ACC"])
    lines = ["| Optimiser (frame-level AUC %) | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    rows = [["optimiser"] + head]
    for o in a.optimizers.split():
        if not a.demo and o in PAPER4:
            pv = list(PAPER4[o]) if held == "Deepfakes" else [None, None] + list(PAPER4[o][2:])
            lines.append(f"| {OPT_NAMES.get(o, o)} (paper) | " + " | ".join("-" if v is None else f"{v:.2f}" for v in pv) + " |")
            rows.append([OPT_NAMES.get(o, o) + " (paper)"] + pv)
        path = f"{a.out}/metrics/no-{held}-{o}/{a.indomain}.csv"
        ours = [value(path, f"{group}/{held}", "frame", 5), value(path, f"{group}/{held}", "frame", 8)]
        if not a.demo:
            u = f"{a.out}/metrics/all-{o}/uadfv.csv"
            ours += [value(u, "UADFV/all", "frame", 5), value(u, "UADFV/all", "frame", 8)]
        lines.append(f"| {OPT_NAMES.get(o, o)} (ours) | " + " | ".join(fmt(v, 100, 2) for v in ours) + " |")
        rows.append([OPT_NAMES.get(o, o) + " (ours)"] + ours)
    lines += ["", "Table IV: optimisers compared (frame-level AUC and ACC, %), each the `roga` recipe with that optimiser "
              "or step. " + (DEMO if a.demo else PROTOCOL)]
    write(a.out, "table4", lines, rows)


ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--tables", default="1 2 4")
ap.add_argument("--sets", default="")
ap.add_argument("--indomain", default="ffpp-test")
ap.add_argument("--methods", default="Deepfakes Face2Face FaceSwap NeuralTextures")
ap.add_argument("--optimizers", default="adam sgd sam sagm roga")
ap.add_argument("--demo", action="store_true")
a = ap.parse_args()
for t in a.tables.split():
    {"1": table1, "2": table2, "4": table4}[t](a)
