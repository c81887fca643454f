#!/usr/bin/env python3
"""Anchor for `make bench`: one SBI training sample the way the official SBI code makes it, with the same
libraries (albumentations 1.3, OpenCV, NumPy), written here from the pipeline's published facts
(docs: ../shared/docs/reference-pipelines.md A.5-A.7; the official repository cannot be fetched on these
machines). Per sample: flip, wide crop, convex-hull mask, source/target transforms, affine, elastic mask,
two-stage mask blur, dynamic blend, paired post-augmentation, tight crop, resize to 380. Prints pairs/s of
one process (one core).

usage: sbi_anchor.py FACES.ndjson [N]
"""
import json, random, sys, time

import albumentations as alb
import cv2
import numpy as np

cv2.setNumThreads(1)
FLIP = list(range(68))
for a, b in [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)] + [(31, 35), (32, 34), (36, 45), (37, 44),
             (38, 43), (39, 42), (40, 47), (41, 46), (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]:
    FLIP[a], FLIP[b] = b, a


class RandomDownScale(alb.core.transforms_interface.ImageOnlyTransform):
    def apply(self, img, **params):
        r = random.choice([2, 4])
        h, w = img.shape[:2]
        small = cv2.resize(img, (w // r, h // r), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


source_transforms = alb.Compose([
    alb.Compose([
        alb.RGBShift((-20, 20), (-20, 20), (-20, 20), p=0.3),
        alb.HueSaturationValue(hue_shift_limit=(-0.3, 0.3), sat_shift_limit=(-0.3, 0.3), val_shift_limit=(-0.3, 0.3), p=1),
        alb.RandomBrightnessContrast(brightness_limit=(-0.1, 0.1), contrast_limit=(-0.1, 0.1), p=1),
    ], p=1),
    alb.OneOf([RandomDownScale(p=1), alb.Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1)], p=1),
], p=1.)
affine = alb.Affine(translate_percent={'x': (-0.03, 0.03), 'y': (-0.015, 0.015)}, scale=[0.95, 1 / 0.95], fit_output=False, p=1)
elastic = alb.ElasticTransform(alpha=50, sigma=7, alpha_affine=0, p=1)
post = alb.Compose([
    alb.RGBShift((-20, 20), (-20, 20), (-20, 20), p=0.3),
    alb.HueSaturationValue(hue_shift_limit=(-0.3, 0.3), sat_shift_limit=(-0.3, 0.3), val_shift_limit=(-0.3, 0.3), p=0.3),
    alb.RandomBrightnessContrast(brightness_limit=(-0.3, 0.3), contrast_limit=(-0.3, 0.3), p=0.3),
    alb.ImageCompression(quality_lower=40, quality_upper=100, p=0.5),
], additional_targets={'image1': 'image'}, p=1.)


def blend_mask(mask):
    H, W = mask.shape
    mask = cv2.resize(mask, (np.random.randint(192, 257), np.random.randint(192, 257)))
    k1 = random.randrange(5, 26, 2)
    k2 = random.randrange(5, 26, 2)
    m = cv2.GaussianBlur(mask, (k1, k1), 0)
    m = m / m.max()
    m[m < 1] = 0
    m = cv2.GaussianBlur(m, (k2, k2), np.random.randint(5, 46))
    m = m / m.max()
    return cv2.resize(m, (W, H))[:, :, None]


def sample(img, lm):
    if np.random.rand() < 0.5:
        img = img[:, ::-1].copy()
        lm = lm[FLIP].copy()
        lm[:, 0] = img.shape[1] - 1 - lm[:, 0]
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
        source = source_transforms(image=source.astype(np.uint8))['image']
    else:
        target = source_transforms(image=target.astype(np.uint8))['image']
    t = affine(image=source, mask=mask)
    source, mask = t['image'], t['mask']
    mask = elastic(image=img, mask=mask)['mask']
    m = blend_mask(mask) * random.choice([0.25, 0.5, 0.75, 1, 1, 1])
    fake = (m * source + (1 - m) * target).astype(np.uint8)
    t = post(image=target.astype(np.uint8), image1=fake)
    real, fake = t['image'], t['image1']
    # tight crop around a RetinaFace-like box (landmark extent, top raised by 0.35 h), train margins
    bx0, by0, bx1, by1 = lm[:, 0].min(), lm[:, 1].min() - 0.35 * h, lm[:, 0].max(), lm[:, 1].max()
    bw, bh = bx1 - bx0, by1 - by0
    f = np.random.rand(4) * 0.6 + 0.2
    ty0, ty1 = max(0, int(by0 - bh / 4 * f[2])), min(real.shape[0], int(by1 + bh / 4 * f[3]) + 1)
    tx0, tx1 = max(0, int(bx0 - bw / 4 * f[0])), min(real.shape[1], int(bx1 + bw / 4 * f[1]) + 1)
    real = cv2.resize(real[ty0:ty1, tx0:tx1], (380, 380), interpolation=cv2.INTER_LINEAR)
    fake = cv2.resize(fake[ty0:ty1, tx0:tx1], (380, 380), interpolation=cv2.INTER_LINEAR)
    return real, fake


def main():
    path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60
    faces = []
    for line in open(path):
        r = json.loads(line)
        if r.get('faces'):
            faces.append((cv2.imread(r['image']), np.array(r['faces'][0]['landmarks'][:68], dtype=np.float64)))
    np.random.seed(5); random.seed(5)
    sample(*faces[0])  # warm-up
    t = time.perf_counter()
    for i in range(n):
        sample(*faces[i % len(faces)])
    dt = time.perf_counter() - t
    print(json.dumps({"pairs": n, "seconds": round(dt, 4), "pairs_per_s": round(n / dt, 2)}))


if __name__ == '__main__':
    main()
