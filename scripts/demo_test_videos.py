#!/usr/bin/env python3
"""The demo set's held-out test videos: for every test target (a clip of a video, or a still filmed as a short video),
a real video and one manipulated video per --methods entry (face swap, reenactment, blend), made by `face-swap`,
whose source faces and driving videos belong to held-out test people only, so no face of the test set is seen in
training.

  demo_test_videos.py --out DIR --bin BIN [--seed S] [--jobs J] [--still-frames N] [--dataset NAME] [--split NAME]
      [--methods face-swap,reenact,blend] [--codecs avi,mp4] [--upsample N]
      --target IDENT=PATH[@START+COUNT] ... --source IDENT=PATH ... [--driver IDENT=VIDEO ...]   > test-videos.ndjson

Every video of one target, the real one included, is written by face-swap the same way (same codec, same frame
count), so neither codec nor length says the label. The codecs are taken in turn per target (avi: Motion-JPEG, mp4:
MPEG-4 Part 2), so both compressions hold reals and fakes. --methods "" makes the real videos only. A still gets face-swap's seeded drift, the same for its
real and fake versions; a still named again as another target gets another drift (seed S + k for its k-th repeat),
so one portrait gives several different clips. Sources are taken in turn from the --source list, skipping the
target's own identity; reenactment drivers in turn from --driver (default: the --source entries that are videos;
a driver may be the target's own identity, another moment of it). face-swap skips outputs that exist, so a re-run
only makes what is missing; records are printed in the order of the targets, the same on every run. Exit status 1 if
any video failed (each reported).
"""
import argparse, concurrent.futures, json, os, re, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--bin", required=True)
ap.add_argument("--seed", default="5")
ap.add_argument("--still-frames", default="16")
ap.add_argument("--jobs", type=int, default=2)
ap.add_argument("--dataset", default="demo")
ap.add_argument("--split", default="test")
ap.add_argument("--methods", default="face-swap,blend", help="comma-separated: face-swap, reenact, blend")
ap.add_argument("--codecs", default="avi", help="comma-separated, taken in turn per target: avi, mp4")
ap.add_argument("--driver", action="append", default=[], help="IDENT=VIDEO (reenact)")
ap.add_argument("--upsample", default="1", help="face-swap --upsample (0 is faster on large faces)")
ap.add_argument("--target", action="append", default=[], help="IDENT=PATH[@START+COUNT]")
ap.add_argument("--source", action="append", default=[], help="IDENT=PATH")
a = ap.parse_args()


def parse(spec, clip):
    m = re.fullmatch(r"([\w.-]+)=([^@]+)(?:@(\d+)\+(\d+))?", spec)
    if not m or (m.group(3) and not clip):
        sys.exit(f"demo_test_videos: bad {'--target' if clip else '--source'} {spec!r} (IDENT=PATH{'[@START+COUNT]' if clip else ''})")
    if not os.path.exists(m.group(2)):
        sys.exit(f"demo_test_videos: {m.group(2)}: no such file")
    return m.group(1), m.group(2), m.group(3), m.group(4)


targets = [parse(t, True) for t in a.target]
sources = [parse(s, False)[:2] for s in a.source]
methods = [m for m in a.methods.split(",") if m]
codecs = [c for c in a.codecs.split(",") if c]
if any(m not in ("face-swap", "reenact", "blend") for m in methods):
    sys.exit(f"demo_test_videos: bad --methods {a.methods!r} (comma-separated: face-swap, reenact, blend)")
if not codecs or any(c not in ("avi", "mp4") for c in codecs):
    sys.exit(f"demo_test_videos: bad --codecs {a.codecs!r} (comma-separated: avi, mp4)")
STILL = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp", ".tif", ".tiff")
drivers = [parse(d, False)[:2] for d in a.driver] or [s for s in sources if not s[1].lower().endswith(STILL)]
if not targets or (any(m != "reenact" for m in methods) and len({s[0] for s in sources}) < 2):
    sys.exit("demo_test_videos: needs --target and at least two --source identities")
if "reenact" in methods and not drivers:
    sys.exit("demo_test_videos: reenact needs a driving video (--driver IDENT=VIDEO, or a video among --source)")

jobs = []   # (name, method, target, start, count, source, identity, source identity, seed)
turn = dturn = 0
repeats = {}
for k, (ident, path, start, count) in enumerate(targets):
    clip = f"{ident}-{k:02d}"
    ext = codecs[k % len(codecs)]
    n = repeats.get((path, start), 0)
    repeats[(path, start)] = n + 1
    seed = str(int(a.seed) + n)
    jobs.append((f"{clip}-real.{ext}", "real", path, start, count, None, ident, None, seed))
    for m in methods:
        if m == "reenact":
            sid, spath = drivers[dturn % len(drivers)]
            dturn += 1
        else:
            while True:
                sid, spath = sources[turn % len(sources)]
                turn += 1
                if sid != ident:
                    break
        tag = {"face-swap": "swap"}.get(m, m)
        jobs.append((f"{clip}-{tag}-{sid}.{ext}", m, path, start, count, spath, ident, sid, seed))

os.makedirs(a.out, exist_ok=True)


def make(job):
    name, method, target, start, count, source, ident, source_ident, seed = job
    cmd = [os.path.join(a.bin, "face-swap"), "--method", method, "--target", target, "--out", os.path.join(a.out, name),
           "--seed", seed, "--still-frames", a.still_frames, "--upsample", a.upsample]
    if start:
        cmd += ["--start-frame", start, "--max-frames", count]
    if source:
        cmd += ["--source", source]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        return job, None, (p.stderr.strip().splitlines() or ["face-swap failed"])[-1]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(dataset=a.dataset, split=a.split, identity=ident)
    if source_ident:
        r["source_identity"] = source_ident
    return job, r, None


with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
    results = list(pool.map(make, jobs))
failed, counts = 0, {}
for job, r, err in results:
    if r is None:
        failed += 1
        print(f"demo_test_videos: {job[0]}: {err}", file=sys.stderr)
        continue
    counts[r["method"]] = counts.get(r["method"], 0) + 1
    print(json.dumps(r))
print(f"demo_test_videos: {len(targets)} targets of {len({t[0] for t in targets})} identities -> "
      + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), file=sys.stderr)
sys.exit(1 if failed else 0)
