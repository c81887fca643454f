#!/usr/bin/env python3
"""The demo's comparison table: each trained row on the same held-out test videos, beside its baseline row.

  demo_compare.py --row 'LABEL|SCORES.ndjson|METRICS.csv[|WALL]' ... [--bootstrap N] [--seed S] [--note TEXT ...]

SCORES is score-video's output, METRICS.csv `metrics --per-method --bootstrap N --seed S --csv` of it (its video AUC
and 95% interval, overall and per manipulation, and the protocol notes printed under the table), WALL a file holding
the training's wall seconds. The first row is the baseline: every other row gets the difference of its video AUC from
the baseline's with a paired percentile bootstrap interval: the same resampled videos (drawn within each class, as
metrics draws them) scored by both models, so the interval says whether the difference is more than the test set's
noise. metrics computes the per-row figures; the paired difference needs both models' scores of one resample at once,
which metrics (one score file at a time) does not do, so it is computed here: AUC as the Mann-Whitney statistic with
ties counted half (what metrics computes), videos matched by their "video" path.
"""
import argparse, csv, json, random, sys

ap = argparse.ArgumentParser()
ap.add_argument("--row", action="append", required=True, help="LABEL|SCORES|METRICS.csv[|WALL]")
ap.add_argument("--bootstrap", type=int, default=2000)
ap.add_argument("--seed", type=int, default=5)
ap.add_argument("--note", action="append", default=[])
a = ap.parse_args()


def fail(msg):
    sys.exit(f"demo_compare: {msg}")


def scores(path):
    out = {}
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        fail(f"{path}: cannot read ({e.strerror})")
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            fail(f"{path}:{k}: not a JSON record")
        if r.get("label") in (0, 1) and isinstance(r.get("score"), (int, float)):
            out[r.get("video") or f"#{k}"] = (r["label"], float(r["score"]), r.get("method") or "fake")
    return out


def metrics(path):
    rows, notes = {}, []
    try:
        with open(path) as f:
            for r in csv.reader(f):
                if not r:
                    continue
                if r[0].startswith("#"):
                    notes.append(",".join(r).lstrip("# ").strip())
                elif r[0] != "dataset":
                    rows[(r[0].split("/", 1)[1] if "/" in r[0] else "all", r[1])] = r
    except OSError as e:
        fail(f"{path}: cannot read ({e.strerror})")
    return rows, notes


def auc(pairs):
    reals = [s for l, s in pairs if l == 0]
    fakes = [s for l, s in pairs if l == 1]
    if not reals or not fakes:
        return None
    wins = sum((f > r) + 0.5 * (f == r) for f in fakes for r in reals)
    return wins / (len(reals) * len(fakes))


def pct(v):
    return "-" if v in (None, "") else f"{100 * float(v):.2f}"


def with_ci(r):
    if not r:
        return "-"
    ci = f" [{pct(r[9])}, {pct(r[10])}]" if len(r) > 10 and r[9] else ""
    return pct(r[5]) + ci


rows = []
for spec in a.row:
    parts = spec.split("|")
    if len(parts) not in (3, 4):
        fail(f"bad --row {spec!r} (LABEL|SCORES|METRICS.csv[|WALL])")
    wall = None
    if len(parts) == 4:
        try:
            wall = float(open(parts[3]).read().split()[0])
        except (OSError, ValueError, IndexError):
            wall = None
    m, notes = metrics(parts[2])
    rows.append(dict(label=parts[0], scores=scores(parts[1]), metrics=m, notes=notes, wall=wall))

base = rows[0]
videos = sorted(set.intersection(*(set(r["scores"]) for r in rows)))
if not videos:
    fail("the rows share no scored test video")
labels = {v: base["scores"][v][0] for v in videos}
reals = [v for v in videos if labels[v] == 0]
fakes = [v for v in videos if labels[v] == 1]
methods = sorted({base["scores"][v][2] for v in fakes})
rng = random.Random(a.seed)
draws = [[rng.choice(reals) for _ in reals] + [rng.choice(fakes) for _ in fakes] for _ in range(a.bootstrap)]


def paired(row):
    if row is base or a.bootstrap <= 0:
        return "-"
    d0 = auc([(labels[v], row["scores"][v][1]) for v in videos]) - auc([(labels[v], base["scores"][v][1]) for v in videos])
    ds = sorted(auc([(labels[v], row["scores"][v][1]) for v in s]) - auc([(labels[v], base["scores"][v][1]) for v in s]) for s in draws)

    def q(p):
        h = p * (len(ds) - 1)
        lo = int(h)
        hi = min(lo + 1, len(ds) - 1)
        return ds[lo] + (h - lo) * (ds[hi] - ds[lo])

    lo, hi = q(0.025), q(0.975)
    verdict = "above" if lo > 0 else "below" if hi < 0 else "within noise"
    return f"{100 * d0:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] ({verdict})"


print(f"Test: {len(videos)} videos of the demo set's held-out identities ({len(reals)} real, {len(fakes)} fake: "
      + ", ".join(f"{m} {sum(base['scores'][v][2] == m for v in fakes)}" for m in methods) + ")\n")
head = ["row", "video AUC % [95% CI]", f"vs {base['label']}: paired diff [95% CI]"] + [f"{m} video AUC" for m in methods] \
    + ["frame AUC %", "train wall"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    m = r["metrics"]
    wall = f"{r['wall'] / 60:.1f} min" if r["wall"] is not None else "-"
    cells = [r["label"], with_ci(m.get(("all", "video"))), paired(r)] + [with_ci(m.get((k, "video"))) for k in methods] \
        + [pct((m.get(("all", "frame")) or [None] * 6)[5]), wall]
    print("| " + " | ".join(cells) + " |")
print()
for n in a.note:
    print(f"- {n}")
for n in base["notes"]:
    if n.startswith(("video level", "frame level", "scores:", "AUC 95%")):
        print(f"- {n}")
print(f"- paired diff: the row's video AUC minus {base['label']}'s on the same videos; percentile bootstrap, "
      f"{a.bootstrap} resamples (seed {a.seed}) of the videos within each class, both models scored on each resample")
