#!/usr/bin/env python3
"""The demo's held-out test videos: for every test target (a clip of a video, or a still filmed as a short video), a
real video and two manipulated ones made by `face-swap` (face swap, blend), whose source faces are other held-out
test people, so no face of the test set is ever seen in training.

  demo_test_videos.py --out DIR --bin BIN [--seed S] [--jobs J] [--still-frames N]
      --target IDENT=PATH[@START+COUNT] ... --source IDENT=PATH ...   > test-videos.ndjson

Every video, the reals included, is written by face-swap the same way (Motion-JPEG, same frame count), so neither
codec nor length says the label; a still gets face-swap's seeded drift, the same for its real and fake versions.
Sources are taken in turn from the --source list, skipping the target's own identity: the face swap gets the next
one, the blend the one after. face-swap skips outputs that exist, so a re-run only makes what is missing; records
are printed in the order of the targets, the same on every run. Exit status 1 if any video failed (each reported).
"""
import argparse, concurrent.futures, json, os, re, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--bin", required=True)
ap.add_argument("--seed", default="5")
ap.add_argument("--still-frames", default="16")
ap.add_argument("--jobs", type=int, default=2)
ap.add_argument("--dataset", default="demo")
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
if not targets or len({s[0] for s in sources}) < 2:
    sys.exit("demo_test_videos: needs --target and at least two --source identities")

jobs = []   # (name, method, target, start, count, source, identity, source identity)
turn = 0
for k, (ident, path, start, count) in enumerate(targets):
    clip = f"{ident}-{k:02d}"
    picks = []
    while len(picks) < 2:
        sid, spath = sources[turn % len(sources)]
        turn += 1
        if sid != ident:
            picks.append((sid, spath))
    jobs.append((f"{clip}-real", "real", path, start, count, None, ident, None))
    jobs.append((f"{clip}-swap-{picks[0][0]}", "face-swap", path, start, count, picks[0][1], ident, picks[0][0]))
    jobs.append((f"{clip}-blend-{picks[1][0]}", "blend", path, start, count, picks[1][1], ident, picks[1][0]))

os.makedirs(a.out, exist_ok=True)


def make(job):
    name, method, target, start, count, source, ident, source_ident = job
    cmd = [os.path.join(a.bin, "face-swap"), "--method", method, "--target", target, "--out", os.path.join(a.out, name + ".avi"),
           "--seed", a.seed, "--still-frames", a.still_frames]
    if start:
        cmd += ["--start-frame", start, "--max-frames", count]
    if source:
        cmd += ["--source", source]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        return job, None, (p.stderr.strip().splitlines() or ["face-swap failed"])[-1]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(dataset=a.dataset, split="test", identity=ident)
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
