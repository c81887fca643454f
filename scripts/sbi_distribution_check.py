#!/usr/bin/env python3
"""Distribution check of `synth-sbi` against the official SBI pipeline's parameters (issue 18).

Makes N pairs with `synth-sbi --mask sbi` (SBI's convex-hull mask, train crop, post-augmentation, the reference
defaults: truncating blend, JPEG with red and blue swapped) and N pairs with the reference's operations in Python -
albumentations 1.x, OpenCV, NumPy, SciPy as the official code calls them (the transforms of scripts/sbi_anchor.py,
the `make bench` anchor, on RGB arrays as the reference loads them, landmarks flipped to W - x) - on the same faces,
and compares:
  * mask area: the fraction of the 380 x 380 output where the mask before the blend ratio exceeds 0.02,
  * blend-ratio frequencies (0.25, 0.5, 0.75, 1),
  * mean absolute real-fake difference (grey levels, over all pixels and channels).
Mask area and the mean difference must agree within 5% (relative); the ratio frequencies within 5 percentage
points (with 1,000 pairs a frequency of 1/6 has a standard error of 1.2 points, so a relative 5% bound would fail
by chance). Prints a Markdown table (docs/synthesis.md keeps one) and exits 1 when a check fails.

usage: sbi_distribution_check.py FACES.ndjson BIN_DIR [--pairs 1000] [--out DIR] [--seed 5]
  FACES.ndjson: landmark records (`landmarks` output); BIN_DIR: where synth-sbi is (.build/release).
Run it with the albumentations venv: .cache/augment-venv/bin/python scripts/sbi_distribution_check.py ...
"""
import argparse, json, math, os, random, subprocess, sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sbi_anchor as A  # noqa: E402  (albumentations transforms of the reference, blend_mask)

RATIOS = [0.25, 0.5, 0.75, 1.0]
AREA_THRESHOLD = 0.02


def reference_sample(img, lm):
    """One pair as the official code makes it; returns (real, fake, mask before the ratio, ratio), 380 x 380."""
    if np.random.rand() < 0.5:
        img = img[:, ::-1].copy()
        lm = lm[A.FLIP].copy()
        lm[:, 0] = img.shape[1] - lm[:, 0]   # the reference's hflip: x -> W - x
    H, W = img.shape[:2]
    x0, y0 = lm[:, 0].min(), lm[:, 1].min()
    x1, y1 = lm[:, 0].max(), lm[:, 1].max()
    w, h = x1 - x0, y1 - y0
    cy0, cy1 = max(0, int(y0 - h)), min(H, int(y1 + 0.4 * h) + 1)
    cx0, cx1 = max(0, int(x0 - w / 2)), min(W, int(x1 + w / 2) + 1)
    img = img[cy0:cy1, cx0:cx1]
    lm = lm - [cx0, cy0]
    mask = np.zeros_like(img[:, :, 0])
    cv2.fillConvexPoly(mask, cv2.convexHull(lm.astype(np.int32)), 1.)
    source, target = img.copy(), img.copy()
    if np.random.rand() < 0.5:
        source = A.source_transforms(image=source.astype(np.uint8))['image']
    else:
        target = A.source_transforms(image=target.astype(np.uint8))['image']
    t = A.affine(image=source, mask=mask)
    source, mask = t['image'], t['mask']
    mask = A.elastic(image=img, mask=mask)['mask']
    blurred = A.blend_mask(mask)
    ratio = [0.25, 0.5, 0.75, 1, 1, 1][np.random.randint(6)]
    m = blurred * ratio
    fake = (m * source + (1 - m) * target).astype(np.uint8)
    t = A.post(image=target.astype(np.uint8), image1=fake)
    real, fake = t['image'], t['image1']
    bx0, by0, bx1, by1 = lm[:, 0].min(), lm[:, 1].min() - 0.35 * h, lm[:, 0].max(), lm[:, 1].max()
    bw, bh = bx1 - bx0, by1 - by0
    f = np.random.rand(4) * 0.6 + 0.2
    ty0, ty1 = max(0, int(by0 - bh / 4 * f[2])), min(real.shape[0], int(by1 + bh / 4 * f[3]) + 1)
    tx0, tx1 = max(0, int(bx0 - bw / 4 * f[0])), min(real.shape[1], int(bx1 + bw / 4 * f[1]) + 1)
    out = lambda a: cv2.resize(np.ascontiguousarray(a[ty0:ty1, tx0:tx1]), (380, 380), interpolation=cv2.INTER_LINEAR)
    return out(real), out(fake), out(blurred[:, :, 0].astype(np.float32)), float(ratio)


def stats(pairs):
    """pairs: iterable of (real, fake, unscaled mask, ratio) -> per-pair arrays."""
    area, diff, ratio = [], [], []
    for real, fake, m, r in pairs:
        area.append(float((m > AREA_THRESHOLD).mean()))
        diff.append(float(np.abs(fake.astype(np.int16) - real.astype(np.int16)).mean()))
        ratio.append(r)
    return np.array(area), np.array(diff), np.array(ratio)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('faces'); ap.add_argument('bin')
    ap.add_argument('--pairs', type=int, default=1000); ap.add_argument('--out', default='out/sbi-distribution')
    ap.add_argument('--seed', type=int, default=5)
    a = ap.parse_args()
    faces = []
    for line in open(a.faces):
        r = json.loads(line)
        if r.get('faces') and len(r['faces'][0].get('landmarks', [])) >= 68:
            faces.append(r)
    if not faces:
        sys.exit(f"{a.faces}: no record with a 68/81-point face")
    variants = math.ceil(a.pairs / len(faces))
    os.makedirs(a.out, exist_ok=True)

    # Ours: synth-sbi, the reference defaults (convex-hull mask as the reference runs outside its docker image).
    recs = os.path.join(a.out, 'ours.ndjson')
    with open(a.faces) as fin, open(recs, 'w') as fout:
        subprocess.run([os.path.join(a.bin, 'synth-sbi'), '-q', '--out', os.path.join(a.out, 'ours'), '--mask', 'sbi',
                        '--variants', str(variants), '--seed', str(a.seed)], stdin=fin, stdout=fout, check=True)
    by_pair = {}
    for line in open(recs):
        r = json.loads(line)
        if 'pair' in r:
            by_pair.setdefault(r['pair'], {})[r['label']] = r
    ours = []
    for pid in sorted(by_pair)[:a.pairs]:
        p = by_pair[pid]
        real, fake = cv2.imread(p[0]['image']), cv2.imread(p[1]['image'])
        ratio = float(p[1]['synth']['ratio'])
        m = cv2.imread(p[1]['mask'], cv2.IMREAD_UNCHANGED).astype(np.float32) / ratio
        ours.append((real, fake, m, ratio))

    # Reference: the same faces, the same number of pairs per face.
    np.random.seed(a.seed); random.seed(a.seed)
    ref = []
    for k in range(variants):
        for r in faces:
            if len(ref) >= a.pairs:
                break
            img = cv2.imread(r['image'])[:, :, ::-1].copy()   # RGB, as the reference loads frames
            lm = np.array(r['faces'][0]['landmarks'][:68], dtype=np.float64)
            ref.append(reference_sample(img, lm))

    (oa, od, orat), (ra, rd, rrat) = stats(ours), stats(ref)
    rows, ok = [], True

    def rel(name, x, y):
        nonlocal ok
        d = abs(x - y) / abs(y)
        ok &= d <= 0.05
        rows.append((name, f"{x:.4f}", f"{y:.4f}", f"{100 * d:.1f}%", "5%", "ok" if d <= 0.05 else "FAIL"))

    rel("mask area (fraction of the output, mask > 0.02)", oa.mean(), ra.mean())
    rel("mean abs(real - fake) (grey levels)", od.mean(), rd.mean())
    for q in RATIOS:
        fo, fr = float((orat == q).mean()), float((rrat == q).mean())
        d = abs(fo - fr)
        ok &= d <= 0.05
        rows.append((f"blend ratio {q:g} frequency", f"{fo:.3f}", f"{fr:.3f}", f"{100 * d:.1f} pts", "5 pts", "ok" if d <= 0.05 else "FAIL"))
    print(f"{len(ours)} pairs from synth-sbi, {len(ref)} from the reference's operations, on {len(faces)} faces "
          f"({variants} per face), seed {a.seed}.\n")
    print("| statistic | synth-sbi | reference | difference | bound | |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    # Spread, for reading the bounds: the standard error of each mean.
    print(f"\nStandard errors: mask area {oa.std() / math.sqrt(len(oa)):.4f} / {ra.std() / math.sqrt(len(ra)):.4f}, "
          f"mean difference {od.std() / math.sqrt(len(od)):.3f} / {rd.std() / math.sqrt(len(rd)):.3f}.")
    json.dump({"pairs": len(ours), "ours": {"area": oa.mean(), "diff": od.mean()}, "reference": {"area": ra.mean(), "diff": rd.mean()},
               "ok": bool(ok)}, open(os.path.join(a.out, 'summary.json'), 'w'))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
