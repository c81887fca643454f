#!/usr/bin/env python3
"""Tables I and III of the CrossDF paper (DID) beside our results, as Markdown and CSV.

Reads the CSVs written by `metrics` under OUT/metrics/<model>/<set>.csv (pipelines/reproduce-did.mk): <model> is did,
bce (the same recipe with a plain ERM step) or an ablation (no-adom, no-t, a-<value>).
"""
import argparse

from tablelib import AUC, fmt, init_of, metric, write

EER = 7
PAPER1 = [("DID (paper)", [0.970, 0.779]), ("CFFs (paper)", [0.976, 0.742]), ("NoiseDF (paper)", [0.940, 0.759]),
          ("FDML (paper)", [0.996, 0.731]), ("F3-Net (paper)", [0.981, 0.651])]
# Table III and Fig. 4 (Celeb-DF v2, AUC / EER; Fig. 4 gives AUC only).
PAPER3 = {"did": ("DID, full", 0.779, 0.286), "no-adom": ("without A_dom", 0.763, 0.302), "no-t": ("without T", 0.759, 0.305),
          "a-0": ("a = 0 (AUC loss only)", 0.380, None), "a-1": ("a = 1 (BCE only)", 0.763, None)}
PROTOCOL = ("Frame-level metrics: 32 evenly spaced frames per test video, MTCNN faces (card.md names the detector), the checkpoint's crop and grayscale "
            "conversion, max over faces, a frame without a face scores 0.5. Training: FF++ c23 real + Deepfakes, Face2Face, "
            "FaceSwap, NeuralTextures (the domains); checkpoint = best validation AUC on the FF++ val split (never a test "
            "set). BCE = the did recipe with a plain ERM step (cross-entropy only, the same faces, backbone, optimiser "
            "and epochs).")
DEMO = ("Demo set (toy data: a handful of identities; the numbers show the pipeline works, nothing more): the demo set's "
        "manipulations are the domains; frame-level metrics on its test videos.")


def table1(a):
    sets = a.sets.split()
    cols = [("demo", "demo set", "demo-set")] if a.demo else [("ffpp-test", "FF++ (intra)", "FF++"), ("cdf", "Celeb-DF v2", "CDF")]
    head = [c[1] for c in cols]
    lines = ["| Method (frame-level) | " + " | ".join(f"{h} AUC" for h in head) + " | init |", "|---|" + "---|" * (len(head) + 1)]
    rows = [["method"] + head + ["init"]]
    if not a.demo:
        for name, pv in PAPER1:
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in pv) + " | |")
            rows.append([name] + pv + [""])
    for model, name in (("did", "DID (ours)"), ("bce", "BCE baseline (ours)")):
        vals = [metric(f"{a.out}/metrics/{model}/{s}.csv", g, "frame", AUC) if s in sets else None for s, _, g in cols]
        init = init_of(a.out, model)
        lines.append(f"| {name} | " + " | ".join(fmt(v, 1, 3) for v in vals) + f" | {init} |")
        rows.append([name] + vals + [init])
    lines += ["", "Table I: frame-level AUC. " + (DEMO if a.demo else PROTOCOL)]
    write(a.out, "table1", lines, rows)


def table3(a):
    s, g = ("demo", "demo-set") if a.demo else ("cdf", "CDF")
    lines = ["| Variant (frame-level) | AUC | EER |", "|---|---|---|"]
    rows = [["variant", "auc", "eer"]]
    for model in ["did"] + a.ablations.split():
        label = PAPER3.get(model, (model.replace("a-", "a = "),))[0]
        if not a.demo and model in PAPER3:
            _, pa, pe = PAPER3[model]
            lines.append(f"| {label} (paper) | {pa:.3f} | {'-' if pe is None else f'{pe:.3f}'} |")
            rows.append([label + " (paper)", pa, pe])
        path = f"{a.out}/metrics/{model}/{s}.csv"
        auc, eer = metric(path, g, "frame", AUC), metric(path, g, "frame", EER)
        lines.append(f"| {label} (ours) | {fmt(auc, 1, 3)} | {fmt(eer, 1, 3)} |")
        rows.append([label + " (ours)", auc, eer])
    lines += ["", "Table III and Fig. 4: ablations on " + ("the demo set" if a.demo else "Celeb-DF v2") + ", frame level. "
              + (DEMO if a.demo else PROTOCOL)]
    write(a.out, "table3", lines, rows)


ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--sets", default="")
ap.add_argument("--ablations", default="")
ap.add_argument("--demo", action="store_true")
a = ap.parse_args()
table1(a)
table3(a)
