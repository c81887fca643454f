#!/usr/bin/env python3
"""The protocol card of a reproduce run: what produced every row of its tables, beside the paper's protocol, and
the differences. Written as OUT/card.md and OUT/card.json beside the tables.

Everything on the card is read from the run's own files, never from the Makefile's intentions: each model's best
checkpoint (its resolved recipe, init, seed), the training faces (detector, FF++ compression), the score records
(frames per video, score rule, detector, crop) and the metrics (test sets, video counts, level). The paper's
protocol is pipelines/paper-protocols.json; every checked key that differs is listed under "Differs from the
paper", with the paper's open points (what this toolkit does not follow yet) and, for demo-sized runs, the toy data.

  scripts/protocol_card.py --pipeline roga --out out/reproduce-roga --models "all-roga all-sgd" \
      --faces out/reproduce-roga/faces/all-train.ndjson [--weights FILE ...] [--demo]
"""
import argparse, csv, glob, hashlib, json, os, re, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOLS = os.path.join(HERE, "..", "pipelines", "paper-protocols.json")
# Keys compared with the paper, in card order: (key, label).
CHECKED = [("backbone", "backbone"), ("init", "initial weights"), ("detector", "face detector"), ("crop", "test crop"),
           ("size", "input size"), ("grayscale", "grayscale"), ("compression", "FF++ compression"), ("frames_train", "training frames per video"),
           ("frames_test", "test frames per video"), ("batch", "batch"), ("epochs", "epochs"), ("step", "training step"),
           ("lr", "learning rate"), ("augment", "augmentation")]


def header(path):
    """A safetensors file's metadata, or None."""
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            return json.loads(f.read(n)).get("__metadata__", {})
    except (OSError, ValueError, struct.error):
        return None


def detector_name(recorded):
    """A face's "detector" as landmarks --detector names it: dlib-hog -> hog, dlib-mmod -> mmod, retinaface-resnet50 ->
    retinaface, mtcnn -> mtcnn."""
    r = recorded.lower()
    return r[len("dlib-"):] if r.startswith("dlib-") else re.sub(r"-.*", "", r)


def dig(d, dotted):
    """A recipe setting: checkpoints store the recipe with flat dotted keys ("step.name"); nested also works."""
    if isinstance(d, dict) and dotted in d:
        return d[dotted]
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def records(path, limit=None):
    try:
        with open(path) as f:
            for i, line in enumerate(f):
                if limit is not None and i >= limit:
                    return
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
    except OSError:
        return


def faces_facts(paths):
    """Detectors, compressions and frames per video of the training faces."""
    detectors, compressions, frames = set(), set(), {}
    for p in paths:
        for r in records(p):
            if r.get("compression"):
                compressions.add(r["compression"])
            for f in r.get("faces") or []:
                if f.get("detector"):
                    detectors.add(detector_name(f["detector"]))
            v = r.get("video")
            if v:
                frames[v] = frames.get(v, 0) + 1
    return {"detector": "/".join(sorted(detectors)) or None, "compression": "/".join(sorted(compressions)) or None,
            "frames_extracted": max(frames.values()) if frames else None}


def model_facts(out, model, weights, checkpoint=None):
    meta = header(checkpoint or os.path.join(out, "models", model, "best.safetensors"))
    if meta is None:
        return None
    recipe = json.loads(meta.get("recipe_json") or "{}")
    init = meta.get("init", "?")
    facts = {
        "recipe": dig(recipe, "name") or meta.get("recipe"), "backbone": meta.get("backbone") or dig(recipe, "backbone"),
        "init": "pretrained" if init.startswith("pretrained") else init, "init_file": init.split(":", 1)[1] if ":" in init else None,
        "crop": meta.get("test_crop"), "train_crop": dig(recipe, "input.train_crop"), "grayscale": meta.get("grayscale") == "true",
        "size": int(meta["size"]) if meta.get("size") else None, "frames_train": dig(recipe, "data.frames_per_video"),
        "batch": dig(recipe, "batch"), "epochs": dig(recipe, "epochs"), "epoch_chosen": meta.get("epoch"),
        "step": dig(recipe, "step.name"), "optimizer": dig(recipe, "optimizer.name"), "lr": dig(recipe, "optimizer.lr"),
        "weight_decay": dig(recipe, "optimizer.weight_decay"), "schedule": dig(recipe, "schedule.name"),
        "augment": dig(recipe, "data.augment"), "seed": meta.get("seed"), "val_auc": meta.get("val_auc"),
    }
    if facts["init_file"]:
        for w in weights:
            if os.path.basename(w) == os.path.basename(facts["init_file"]) and os.path.exists(w):
                facts["init_sha256"] = sha256(w)
    return facts


def test_sets(out, model, scores=None):
    """Per test set: videos (real / fake), level, frames per video, detector and score rule, from its score records."""
    sets = {}
    for p in scores or sorted(glob.glob(os.path.join(out, "scores", model, "*.ndjson"))):
        name = os.path.basename(p)[:-len(".ndjson")]
        real = fake = 0
        proto, level = None, None
        kinds = set()
        for r in records(p):
            if r.get("label") == 0:
                real += 1
            elif r.get("label") == 1:
                fake += 1
                if r.get("method"):
                    kinds.add(r["method"])
            proto = proto or r.get("protocol")
            level = level or r.get("level")
        s = {"videos": real + fake, "real": real, "fake": fake, "fakes": sorted(kinds), "scoring": proto, "level": level}
        m = re.search(r"(\d+) frames per video", proto or "")
        s["frames_test"] = int(m.group(1)) if m else None
        m = re.search(r"detector (\w+)", proto or "")
        s["detector"] = m.group(1) if m else None
        sets[name] = s
    return sets


def paper_value(proto, model, key):
    """The paper's entry for a key, with a row override (rows: model-name prefix, or *suffix, -> entries)."""
    entry = proto["protocol"].get(key)
    for prefix, over in (proto.get("rows") or {}).items():
        hit = model.endswith(prefix[1:]) if prefix.startswith("*") else model.startswith(prefix)
        if hit and key in over:
            entry = over[key]
    return entry


def paper_for(entry, facts):
    """The entry's value for this model: a per-backbone value (by_backbone) where the paper gives one."""
    return (entry.get("by_backbone") or {}).get(facts.get("backbone"), entry["value"])


def same(key, ours, paper, facts):
    if ours is None:
        return True   # not measured by this run (e.g. frames of a model never scored): nothing to compare
    if key == "backbone":
        return ours == paper["value"] or ours in paper.get("also", [])
    if key == "lr":
        return abs(float(ours) - float(paper["value"])) < 1e-12
    return str(ours).lower() == str(paper_for(paper, facts)).lower()


def paper_table(proto):
    """The paper's protocol as Markdown (docs/reproduce.md carries it; ProtocolTests checks the copy)."""
    md = ["| setting | the paper's | where it says so (or our reading) |", "|---|---|---|"]
    for key, e in proto["protocol"].items():
        md.append(f"| {key} | {e['value']}" + (" (also " + ", ".join(e["also"]) + ")" if e.get("also") else "")
                  + ("".join(f"; {b}: {v}" for b, v in e["by_backbone"].items()) if e.get("by_backbone") else "") + " | "
                  + "; ".join(x for x in [e.get("source", ""), ("reading: " + e["reading"]) if e.get("reading") else ""] if x) + " |")
    for prefix, over in (proto.get("rows") or {}).items():
        for key, e in over.items():
            md.append(f"| {key}, rows {prefix if prefix.startswith('*') else prefix + '*'} | {e['value']} | "
                      + "; ".join(x for x in [e.get("source", ""), ("reading: " + e["reading"]) if e.get("reading") else ""] if x) + " |")
    md += [""] + [f"- Reading: {x}" for x in proto.get("readings", [])] + [f"- Known difference: {x}" for x in proto.get("open", [])]
    return "\n".join(md)


def update_docs(path, table):
    """Rewrites every <!-- protocol:KEY ... --> ... <!-- /protocol --> block of a Markdown file from the table."""
    with open(path) as f:
        text = f.read()
    def fill(m):
        return m.group(1) + "\n" + paper_table(table[m.group(2)]) + "\n" + m.group(3)
    new = re.sub(r"(<!-- protocol:(\w+) [^\n]*-->)\n.*?\n(<!-- /protocol -->)", fill, text, flags=re.S)
    if new != text:
        with open(path + ".tmp", "w") as f:
            f.write(new)
        os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--update-docs":
        with open(PROTOCOLS) as f:
            update_docs(sys.argv[2], json.load(f))
        return
    ap = argparse.ArgumentParser(epilog="scripts/protocol_card.py --update-docs docs/reproduce.md rewrites the docs' protocol tables.")
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--paper-table", action="store_true", help="print the paper's protocol as Markdown and exit")
    ap.add_argument("--out")
    ap.add_argument("--models", default="")
    ap.add_argument("--faces", nargs="*", default=[])
    ap.add_argument("--weights", nargs="*", default=[])
    ap.add_argument("--checkpoint", nargs="*", default=[], help="MODEL=PATH: a checkpoint not at OUT/models/MODEL/best.safetensors")
    ap.add_argument("--scores", nargs="*", default=[], help="MODEL=PATH: score records not under OUT/scores/MODEL/")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--protocols", default=PROTOCOLS)
    a = ap.parse_args()
    try:
        with open(a.protocols) as f:
            table = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"protocol_card.py: {a.protocols}: {e}")
    if a.pipeline not in table or a.pipeline.startswith("_"):
        sys.exit(f"protocol_card.py: no protocol named '{a.pipeline}' in {a.protocols} (have: {', '.join(k for k in table if not k.startswith('_'))})")
    proto = table[a.pipeline]
    if a.paper_table:
        print(paper_table(proto))
        return
    if not a.out or not a.models:
        sys.exit("protocol_card.py: --out and --models are required (or --paper-table)")
    # --faces PATH (every model) or PREFIX=PATH (models whose name starts with PREFIX; the longest prefix wins).
    plain = [f for f in a.faces if "=" not in f]
    prefixed = sorted((f.split("=", 1) for f in a.faces if "=" in f), key=lambda p: -len(p[0]))
    faces = faces_facts(plain)
    faces_cache = {}

    def faces_for(model):
        for prefix, path in prefixed:
            if model.startswith(prefix):
                return faces_cache.setdefault(path, faces_facts([path]))
        return faces
    rows, differs = [], []
    # A difference shared by several models is one line naming them all.
    grouped = {}
    if a.demo:
        differs.append("Toy data: the demo set (a handful of identities, CPU-sized training), not the paper's benchmarks; "
                       "its numbers show that the pipeline works, nothing more.")
    for model in a.models.split():
        m = model_facts(a.out, model, a.weights, dict(c.split("=", 1) for c in a.checkpoint).get(model))
        if m is None:
            differs.append(f"{model}: no checkpoint (not trained in this run)")
            continue
        sets = test_sets(a.out, model, [s.split("=", 1)[1] for s in a.scores if s.split("=", 1)[0] == model] or None)
        mf = faces_for(model)
        # Frames a training video really gives: the recipe's frames_per_video (0: all), at most those extracted.
        if mf["frames_extracted"]:
            fpv = m["frames_train"] or 0
            m["frames_train"] = min(fpv, mf["frames_extracted"]) if fpv > 0 else mf["frames_extracted"]
        m["detector"] = mf["detector"]
        m["compression"] = mf["compression"]
        frames = sorted({s["frames_test"] for s in sets.values() if s["frames_test"]})
        m["frames_test"] = frames[0] if len(frames) == 1 else ("/".join(map(str, frames)) if frames else None)
        test_detectors = sorted({s["detector"] for s in sets.values() if s["detector"]})
        for d in test_detectors:
            if mf["detector"] and d != mf["detector"]:
                differs.append(f"{model}: test faces found with {d}, training faces with {mf['detector']}")
        row = {"model": model, **m, "test_sets": sets}
        rows.append(row)
        for key, label in CHECKED:
            p = paper_value(proto, model, key)
            if p is None or key not in m:
                continue
            if not same(key, m[key], p, m):
                why = p.get("source") or ("reading: " + p["reading"] if p.get("reading") else "")
                grouped.setdefault((label, str(m[key]), str(paper_for(p, m)), why), []).append(model)
    for (label, ours, theirs, why), models in grouped.items():
        differs.append(f"{', '.join(models)}: {label} {ours}, the paper's {theirs} ({why})")
    differs += proto.get("open", [])
    card = {"pipeline": a.pipeline, "paper": proto["paper"], "tables": proto["tables"], "demo": a.demo,
            "faces": faces, "rows": rows, "paper_protocol": proto["protocol"], "paper_rows": proto.get("rows", {}),
            "readings": proto.get("readings", []), "differs_from_the_paper": differs}
    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, "card.json.tmp")
    with open(tmp, "w") as f:
        json.dump(card, f, indent=1)
    os.replace(tmp, os.path.join(a.out, "card.json"))

    md = [f"# Protocol card: {a.pipeline} ({proto['paper']}; {', '.join(proto['tables'])})", ""]
    for label, f in [("Training faces", faces)] + [(f"Training faces of {p}*", faces_cache[path]) for p, path in prefixed if path in faces_cache]:
        md.append(f"{label}: detector {f['detector'] or '?'}, FF++ compression {f['compression'] or 'n/a'}, "
                  f"{f['frames_extracted'] or '?'} frames extracted per video.  ")
    md += ["", "| model | recipe | backbone | init | crop | gray | batch | epochs | step | optimizer, lr, schedule | frames train/test | seed | epoch chosen (val AUC) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        init = r["init"] + (f" ({r['init_file']}" + (f", sha256 {r['init_sha256'][:16]}..." if r.get("init_sha256") else "") + ")" if r.get("init_file") else "")
        md.append(f"| {r['model']} | {r['recipe']} | {r['backbone']} | {init} | {r['crop']} | {'yes' if r['grayscale'] else 'no'} | {r['batch']} | "
                  f"{r['epochs']} | {r['step']} | {r['optimizer']} {r['lr']}, {r['schedule']} | {r['frames_train']}/{r['frames_test'] or '-'} | "
                  f"{r['seed']} | {r['epoch_chosen']} ({r['val_auc'] or '-'}) |")
    md += ["", "Test sets (per model: videos real/fake; level; scoring):", ""]
    for r in rows:
        for name, s in r["test_sets"].items():
            kinds = f" [fakes: {', '.join(s['fakes'])}]" if s.get("fakes") else ""
            md.append(f"- {r['model']} on {name}: {s['videos']} videos ({s['real']} real, {s['fake']} fake){kinds}; {s['level'] or '?'} level; {s['scoring'] or '?'}")
    md += ["", "The paper's protocol:", ""]
    for key, e in proto["protocol"].items():
        md.append(f"- {key}: {e['value']}" + (f" ({e['source']})" if e.get("source") else "") + (f" [reading: {e['reading']}]" if e.get("reading") else ""))
    for prefix, over in (proto.get("rows") or {}).items():
        for key, e in over.items():
            md.append(f"- rows {prefix if prefix.startswith('*') else prefix + '*'}: {key} {e['value']}" + (f" ({e['source']})" if e.get("source") else "") + (f" [reading: {e['reading']}]" if e.get("reading") else ""))
    if proto.get("readings"):
        md += ["", "Readings where the paper is silent or ambiguous:", ""] + [f"- {x}" for x in proto["readings"]]
    md += ["", "## Differs from the paper", ""] + ([f"- {x}" for x in differs] if differs else ["(nothing known)"])
    text = "\n".join(md) + "\n"
    tmp = os.path.join(a.out, "card.md.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(a.out, "card.md"))
    print(f"protocol card: {os.path.join(a.out, 'card.md')} ({len(differs)} difference(s) from the paper)", file=sys.stderr)


if __name__ == "__main__":
    main()
