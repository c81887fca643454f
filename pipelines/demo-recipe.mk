# `make demo RECIPE=<name>`: one training recipe on the labelled demo set (pipelines/demo-set.mk, made first by the
# top Makefile), scored on the demo set's test videos (identities never seen in training), with frame- and
# video-level AUC, overall and per manipulation method.
#
#   make demo RECIPE=erm [SIZE=128] [BATCH=16] [EPOCHS=3] [BACKBONE=efficientnet-lite0] [SEED=5] [OUT=out/demo-erm[-BACKBONE]]
#
# Defaults are CPU-sized; BACKBONE empty keeps the recipe's own (did: EfficientNet-Lite0, below). ImageNet weights are passed for EfficientNet-Lite0
# (the only backbone whose weights ship in .cache/models). Every step is a file target under $(OUT).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
SET ?= out/demo-set
RECIPE ?= erm
OUT ?= out/demo-$(RECIPE)$(if $(BACKBONE),-$(BACKBONE))
SIZE ?= 128
BATCH ?= 16
EPOCHS ?= 3
SEED ?= 5
# Recipes whose own backbone has no shipped weights and does not train from scratch in a demo's few steps get a
# small ImageNet-initialised one (did: EfficientNetV2-L from scratch collapses to one score; docs/training.md, DID).
DEMO_BACKBONE_did := efficientnet-lite0
BACKBONE ?= $(DEMO_BACKBONE_$(RECIPE))
LITE0 := .cache/models/efficientnet-lite0-57934424.pth
# Other backbones train from random initialisation in the demo (--from-scratch: recipes whose paper starts from
# ImageNet weights, init.pretrained: required, refuse to start otherwise).
PRETRAINED := $(if $(filter efficientnet-lite0,$(BACKBONE)),--pretrained $(LITE0),--from-scratch)

.PHONY: all
all: $(OUT)/metrics.md
	@echo "Demo set, recipe $(RECIPE) (toy data: a handful of identities; numbers show the pipeline works, nothing more):"
	@cat $<

# The settings of this run: a change re-runs training (which refuses a folder of another run, naming what differs).
PARAMS := recipe=$(RECIPE) backbone=$(BACKBONE) size=$(SIZE) batch=$(BATCH) epochs=$(EPOCHS) seed=$(SEED)
.PHONY: FORCE
$(OUT)/params: FORCE
	@mkdir -p $(OUT); echo '$(PARAMS)' | cmp -s - $@ || echo '$(PARAMS)' > $@

$(OUT)/model/best.safetensors: $(SET)/train.ndjson $(SET)/val.ndjson $(OUT)/params
	$(BIN)/train $(SET)/train.ndjson --recipe $(RECIPE) --val $(SET)/val.ndjson --out $(OUT)/model --seed $(SEED) \
	  --epochs $(EPOCHS) $(if $(BACKBONE),--backbone $(BACKBONE)) --size $(SIZE) --batch $(BATCH) $(PRETRAINED)

$(OUT)/scores.ndjson: $(OUT)/model/best.safetensors $(SET)/test-videos.ndjson
	$(BIN)/score-video -q --checkpoint $< < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@

# Frame- and video-level AUC (metrics reports both), with a row per manipulation method.
$(OUT)/metrics.md: $(OUT)/scores.ndjson
	$(BIN)/metrics --per-method --markdown $@.tmp --csv $(OUT)/metrics.csv $< > /dev/null
	@mv $@.tmp $@
