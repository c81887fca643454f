# `make demo RECIPE=prle`: PRLE end to end on the labelled demo set (pipelines/demo-set.mk, made first by the top
# Makefile): a zoo of supervised detectors -> prle-cam-fuse over the training faces (fused Grad-CAM maps and an
# overlay sheet) -> the PRLE recipe trained with the maps -> both its baseline (the same recipe, masking off) and the
# PRLE one scored on the demo set's test videos, printed in Table II's layout (frame-level ACC / AUC).
#
#   make demo RECIPE=prle [SIZE=128] [BATCH=16] [EPOCHS=3] [BACKBONE=efficientnet-lite0] [ZOO="..."] [SEED=5]
#
# CPU-sized defaults, not the paper's: 128 px instead of 256, 3 epochs, and a zoo of small backbones
# (EfficientNet-Lite0 with ImageNet weights, ResNet-18 and VGG-16-BN from scratch) in place of Xception /
# EfficientNet-B4 / VGG-16-BN; every member is trained with the supervised recipe (erm) on the training faces.
# The full-size zoo is `train --recipe prle-zoo-{xception,efficientnet-b4,vgg16}`. Every step is a file target
# under $(OUT); an interrupted run resumes, a finished one is not redone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
SET ?= out/demo-set
OUT ?= out/demo-prle
SIZE ?= 128
BATCH ?= 16
EPOCHS ?= 3
SEED ?= 5
BACKBONE ?= efficientnet-lite0
ZOO ?= efficientnet-lite0 resnet18 vgg16_bn
THREADS ?= $(shell nproc)
LITE0 := .cache/models/efficientnet-lite0-57934424.pth
pretrained = $(if $(filter efficientnet-lite0,$(1)),--pretrained $(LITE0),--from-scratch)
COMMON = --val $(SET)/val.ndjson --seed $(SEED) --epochs $(EPOCHS) --size $(SIZE) --batch $(BATCH) --threads $(THREADS) -q

.PHONY: all
all: $(OUT)/table.md
	@echo "Demo set, PRLE (toy data: a handful of identities; numbers show the pipeline works, nothing more):"
	@cat $<

# The settings of this run: a change re-runs what depends on them (train refuses a folder of another run).
PARAMS := backbone=$(BACKBONE) zoo=$(ZOO) size=$(SIZE) batch=$(BATCH) epochs=$(EPOCHS) seed=$(SEED)
.PHONY: FORCE
$(OUT)/params: FORCE
	@mkdir -p $(OUT); echo '$(PARAMS)' | cmp -s - $@ || echo '$(PARAMS)' > $@

# --- the zoo: the plain supervised recipe per backbone -----------------------------------------------------
$(OUT)/zoo/%/best.safetensors: $(SET)/train.ndjson $(SET)/val.ndjson $(OUT)/params
	$(BIN)/train $(SET)/train.ndjson --recipe erm --backbone $* --set input.train_crop=align:256:1.3 --set input.test_crop=align:256:1.3 \
	  --out $(OUT)/zoo/$* $(COMMON) $(call pretrained,$*)

ZOO_CKPTS := $(foreach b,$(ZOO),$(OUT)/zoo/$(b)/best.safetensors)

# --- static localization: fused maps of every training face, and the overlay sheet --------------------------
$(OUT)/train-maps.ndjson: $(SET)/train.ndjson $(ZOO_CKPTS)
	$(BIN)/prle-cam-fuse -q $< $(foreach c,$(ZOO_CKPTS),--zoo $(c)) --out $(OUT)/maps --cams --overlay $(OUT)/overlay.png \
	  --threads $(THREADS) > $@.tmp
	@mv $@.tmp $@
	@echo "overlay sheet (face | each zoo model's CAM | fused map): $(OUT)/overlay.png"

# --- dynamic exploitation: the PRLE recipe on the faces with their maps -------------------------------------
$(OUT)/prle/best.safetensors: $(OUT)/train-maps.ndjson $(SET)/val.ndjson $(OUT)/params
	$(BIN)/train $< --recipe prle --backbone $(BACKBONE) --out $(OUT)/prle $(COMMON) $(call pretrained,$(BACKBONE))

# --- the baseline row: the prle recipe with the masking off (prle-baseline), so the rows differ by PRLE alone ---
$(OUT)/base/best.safetensors: $(SET)/train.ndjson $(SET)/val.ndjson $(OUT)/params
	$(BIN)/train $< --recipe prle-baseline --backbone $(BACKBONE) --out $(OUT)/base $(COMMON) $(call pretrained,$(BACKBONE))

# --- scores and the table -----------------------------------------------------------------------------------
$(OUT)/scores-base.ndjson: $(OUT)/base/best.safetensors $(SET)/test-videos.ndjson
	$(BIN)/score-video -q --checkpoint $< < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@
$(OUT)/scores-prle.ndjson: $(OUT)/prle/best.safetensors $(SET)/test-videos.ndjson
	$(BIN)/score-video -q --checkpoint $< < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@
$(OUT)/metrics-%.csv: $(OUT)/scores-%.ndjson
	$(BIN)/metrics --per-method --csv $@.tmp $< > /dev/null
	@mv $@.tmp $@

# Table II's layout (frame-level ACC / AUC, %) with the demo set's manipulations as the test sets.
$(OUT)/table.md: $(OUT)/metrics-base.csv $(OUT)/metrics-prle.csv
	python3 -c 'import csv,sys; \
	rows = {k: {(r["dataset"].split("/")[-1], r["level"]): r for r in csv.DictReader(open(p)) if not r["dataset"].startswith("#")} for k, p in (("base", sys.argv[1]), ("prle", sys.argv[2]))}; \
	sets = ["face-swap", "reenact", "blend", "all"]; \
	f = lambda r, k: "%.2f" % (100 * float(r[k])) if r and r[k] else "-"; \
	print("| frame-level ACC / AUC (%) | " + " | ".join(sets) + " | video AUC (all) |"); print("|---" * (len(sets) + 2) + "|"); \
	[print("| %s | " % name + " | ".join(f(rows[k].get((s, "frame")), "acc") + " / " + f(rows[k].get((s, "frame")), "auc") for s in sets) + " | " + f(rows[k].get(("all", "video")), "auc") + " |") for k, name in (("base", sys.argv[3]), ("prle", sys.argv[3] + " + PRLE"))]; \
	print(); print("- zoo: " + sys.argv[4] + "; maps fused with the union rule (tau1 0.3, lambda 0.15); p 0.5, alpha ~ U(0, 1]"); \
	print("- paper (Table II, EfficientNet-B4 -> + PRLE, AUC DFDC / DF-1.0 / Celeb-DF): 65.43 / 58.59 / 64.59 -> 69.64 / 74.72 / 70.67")' \
	  $(OUT)/metrics-base.csv $(OUT)/metrics-prle.csv "$(BACKBONE) (prle-baseline)" "$(ZOO)" > $@.tmp
	@mv $@.tmp $@
