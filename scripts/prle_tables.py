#!/usr/bin/env python3
"""Table II (and the ablation rows of Tables IV, V and VII) of the PRLE paper beside our results, as Markdown and CSV.

Reads the CSVs written by `metrics` under OUT/metrics/<model>/<set>.csv (pipelines/reproduce-prle.mk): <model> is
base-<backbone> (the prle recipe with the masking off), prle-<backbone>, or prle-<ablation>@<backbone>.
"""
import argparse, os

from tablelib import fmt, init_of, metric, write

SETS = [("dfdc", "DFDC", "DFDC"), ("df1", "DF-1.0", "DF-1.0"), ("cdf", "Celeb-DF", "CDF")]
NAMES = {"xception": "Xception", "efficientnet-b4": "EfficientNet", "vgg16_bn": "VGG", "resnet50": "ResNet-50"}
# Table II: backbone -> (base, +PRLE), each ACC/AUC for DFDC, DF-1.0, Celeb-DF, AVG (%).
PAPER2 = {
    "xception": ([59.93, 64.17, 48.04, 55.01, 56.12, 56.75, 54.70, 58.64], [64.33, 69.38, 57.22, 66.62, 65.19, 65.94, 62.28, 67.31]),
    "efficientnet-b4": ([60.63, 65.43, 54.97, 58.59, 62.79, 64.59, 59.46, 62.87], [64.52, 69.64, 62.14, 74.72, 69.71, 70.67, 65.46, 71.68]),
    "vgg16_bn": ([58.06, 61.60, 63.96, 65.59, 66.62, 63.97, 62.75, 63.72], [56.87, 62.54, 64.92, 68.73, 67.87, 68.77, 63.22, 66.68]),
    "resnet50": ([59.84, 64.34, 58.15, 62.78, 56.68, 60.32, 58.22, 62.48], [61.50, 66.02, 57.43, 70.52, 58.94, 61.26, 59.29, 65.93]),
}
# The paper's initialisation per backbone (Sec. IV-A: of its three detectors "the latter two", EfficientNet and VGG,
# "are pre-trained on ImageNet"; it says nothing of ResNet-50's): Xception's is not ImageNet.
PAPER_INIT = {"xception": "not ImageNet", "resnet50": "not stated"}
# Ablations on EfficientNet (AUC %, DFDC / DF-1.0 / CDF).
PAPER_ABL = {"random": ("Random rectangles (Table IV)", [67.85, 59.08, 65.98]),
             "landmarks": ("Landmark regions (Table IV)", [68.22, 67.97, 66.76]),
             # Our "average" ablation runs eq. 6 at the paper's tau1 = 0.3, the value the neighbouring rule builds on
             # ("the average fused maps with a higher tau1"): Table V's "Average (high tau1)" row. The paper never
             # states its low tau1. (Table V's extracted text interleaves labels and numbers; the paper's remark that
             # the low tau1 does better places 68.90 / 72.27 / 69.34 on the low row, 67.31 / 69.94 / 69.18 on the high.)
             "average": ("Average fusion only, high tau1 = 0.3 (Table V)", [67.31, 69.94, 69.18]),
             "no-exploitation": ("Without exploitation (Table VII)", [68.86, 70.42, 65.45])}
PROTOCOL = ("Frame-level ACC / AUC (%): 32 evenly spaced frames per test video, dlib faces, the checkpoint's crop, max over "
            "faces, a frame without a face scores 0.5; ACC at 0.5. Training: FF++ c23 real + Deepfakes, Face2Face, FaceSwap, "
            "FaceShifter, NeuralTextures; the base row is the prle recipe with the masking off (prle-baseline: same batch 64, "
            "augmentation, schedule, epochs and seed), +PRLE the same with the zoo's fused maps masked (p 0.5, alpha ~ U(0, 1]); checkpoint = best validation AUC on the FF++ val split (never a "
            "test set). The paper states no optimiser: both use erm's Adam 2e-4 (prle inherits it). AVG = mean over the three sets (only when "
            "all three are provided).")
DEMO = ("Demo set (toy data: a handful of identities; the numbers show the pipeline works, nothing more): frame-level "
        "ACC / AUC on the demo set's test videos, identities unseen in training.")


def value(path, group, column):
    v = metric(path, group, "frame", column)
    return None if v is None else v * 100


def ours(a, model, cols):
    sets = a.sets.split()
    vals = []
    for s, _, g in cols:
        path = f"{a.out}/metrics/{model}/{s}.csv"
        vals += [value(path, g, 8), value(path, g, 5)] if s in sets else [None, None]
    if not a.demo:
        accs, aucs = vals[0::2], vals[1::2]
        full = all(v is not None for v in vals)
        vals += [sum(accs) / 3 if full else None, sum(aucs) / 3 if full else None]
    return vals


def table2(a):
    cols = [("demo", "demo set", "demo-set")] if a.demo else SETS
    names = [c[1] for c in cols] + ([] if a.demo else ["AVG"])
    lines = ["| Backbone | Model (frame-level %) | " + " | ".join(f"{n} ACC | {n} AUC" for n in names) + " | init |",
             "|---|---|" + "---|---|" * len(names) + "---|"]
    rows = [["backbone", "model"] + [f"{n} {k}" for n in names for k in ("ACC", "AUC")] + ["init"]]
    for b in a.backbones.split():
        name = NAMES.get(b, b)
        for i, (kind, model) in enumerate([("backbone", f"base-{b}"), ("+PRLE", f"prle-{b}")]):
            if not a.demo and b in PAPER2:
                pv = PAPER2[b][i]
                init = PAPER_INIT.get(b, "ImageNet")
                lines.append(f"| {name} | {kind} (paper) | " + " | ".join(f"{v:.2f}" for v in pv) + f" | {init} |")
                rows.append([name, kind + " (paper)"] + pv + [init])
            vals = ours(a, model, cols)
            init = init_of(a.out, model)
            lines.append(f"| {name} | {kind} (ours) | " + " | ".join(fmt(v) for v in vals) + f" | {init} |")
            rows.append([name, kind + " (ours)"] + vals + [init])
    lines += ["", f"Table II. Zoo: {a.zoo} (the supervised recipe each). " + (DEMO if a.demo else PROTOCOL)]
    write(a.out, "table2", lines, rows)


def ablations(a):
    abl = a.ablations.split()
    if not abl:
        return
    main = a.backbones.split()[0]
    cols = [("demo", "demo set", "demo-set")] if a.demo else SETS
    lines = ["| Variant (" + NAMES.get(main, main) + ", frame-level %) | " + " | ".join(f"{c[1]} AUC" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    rows = [["variant"] + [c[1] for c in cols]]
    for kind in ["full"] + abl:
        model = f"prle-{main}" if kind == "full" else f"prle-{kind}@{main}"
        label = "PRLE (union fusion, dynamic exploitation)" if kind == "full" else PAPER_ABL.get(kind, (kind, None))[0]
        if not a.demo and kind in PAPER_ABL and main == "efficientnet-b4":
            pv = PAPER_ABL[kind][1]
            lines.append(f"| {label}, paper | " + " | ".join(f"{v:.2f}" for v in pv) + " |")
            rows.append([label + ", paper"] + pv)
        vals = ours(a, model, cols)[1::2][:len(cols)]
        lines.append(f"| {label}, ours | " + " | ".join(fmt(v) for v in vals) + " |")
        rows.append([label + ", ours"] + vals)
    lines += ["", "Ablations (Tables IV, V, VII): frame-level AUC (%). " + (DEMO if a.demo else PROTOCOL)]
    write(a.out, "ablations", lines, rows)


ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--backbones", default="efficientnet-b4")
ap.add_argument("--ablations", default="")
ap.add_argument("--sets", default="")
ap.add_argument("--zoo", default="")
ap.add_argument("--demo", action="store_true")
a = ap.parse_args()
table2(a)
ablations(a)
