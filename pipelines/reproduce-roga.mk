# Tables I, II and IV of the RoGA paper (roga-robust-gradient-alignment.txt) under the DeepfakeBench protocol.
#
#   make reproduce-roga FFPP=/data/FF++ CDF1=/data/Celeb-DF-v1 CDF=/data/Celeb-DF-v2 UADFV=/data/UADFV DFDC=/data/dfdc \
#        DFDCP=/data/dfdcp [PRETRAINED=resnet34 ImageNet weights] [TABLES="1 2 4"]
#
# Steps, each a file target under $(OUT) (an interrupted run resumes):
#   index-dataset (FF++ c23: real + Deepfakes, Face2Face, FaceSwap, NeuralTextures; methods are the domains) ->
#   extract-frames (32 per video) -> landmarks (dlib; the recipe aligns the faces at 256 px) -> train (recipe `roga` and the same recipe with other optimisers /
#   steps; leave-one-manipulation-out runs train on the other three) -> score-video (32 frames per video) on FF++ test
#   and the cross-dataset sets -> metrics (frame level, and video level grouped by video) -> scripts/roga_tables.py
#   and the protocol card (OUT/card.md: the run's protocol and its differences from the paper's).
# Checkpoints are chosen on the FF++ val split (DeepfakeBench's own trainer selects on the test set; we do not).
# DEMO=1 runs the same pipeline on the labelled demo set, whose methods (face-swap, reenact, blend) are the domains.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/reproduce-roga
COMPRESSION ?= c23
FRAMES ?= 32
SEED ?= 5
TABLES ?= 1 2 4
# Table IV's rows; Table I shows roga, sgd (ERM) and sam.
OPTIMIZERS ?= adam sgd sam sagm roga
PRETRAINED ?=
# Without PRETRAINED, `check` refuses before any work unless FROM_SCRATCH=1 (random initialisation, not the paper's).
FROM_SCRATCH ?=
TRAIN_FLAGS ?=
SCORE_FLAGS ?=
DEMO ?=
SET ?= out/demo-set
FFPP ?=
CDF1 ?=
CDF ?=
UADFV ?=
DFDC ?=
DFDCP ?=

ifeq ($(DEMO),1)
METHODS ?= face-swap reenact blend
TESTSETS := demo
INDOMAIN := demo
else
METHODS ?= Deepfakes Face2Face FaceSwap NeuralTextures
TESTSETS := $(if $(CDF1),cdf1) $(if $(CDF),cdf) $(if $(UADFV),uadfv) $(if $(DFDC),dfdc) $(if $(DFDCP),dfdcp)
INDOMAIN := ffpp-test
endif
root_cdf1 := $(CDF1)
root_cdf := $(CDF)
root_uadfv := $(UADFV)
root_dfdc := $(DFDC)
root_dfdcp := $(DFDCP)

# DeepfakeBench's preprocessing: dlib's detector and landmarks; the recipe aligns the faces (input.*_crop align:256:1.3).
PIPELINE := reproduce-roga
PAPER_DETECTOR := hog
include $(dir $(lastword $(MAKEFILE_LIST)))detectors.mk

# How each optimiser / step row is trained: the `roga` recipe with these overrides.
opt_roga :=
opt_sagm := --step sagm
opt_sam := --step sam
opt_sgd := --step erm
opt_adam := --step erm --optimizer adam --lr 0.0002

.PHONY: tables check
.SECONDARY:
.SECONDEXPANSION:

check:
	@if [ -z "$(FFPP)$(DEMO)" ]; then echo "reproduce-roga: FFPP=<FaceForensics++ root> is required (training uses its videos)" >&2; exit 2; fi
	@if [ -z "$(PRETRAINED)$(FROM_SCRATCH)" ]; then \
	  echo "reproduce-roga: no ImageNet weights (the paper starts ResNet-34 from ImageNet): give PRETRAINED=FILE (scripts/fetch-weights.sh resnet34 downloads it), or FROM_SCRATCH=1 to train from random initialisation (not the paper's setting); nothing was run" >&2; exit 2; fi
	@if [ -n "$(PRETRAINED)" ] && [ ! -f "$(PRETRAINED)" ]; then echo "reproduce-roga: PRETRAINED=$(PRETRAINED): no such weight file" >&2; exit 2; fi
	$(check_detector)

# --- training and validation faces -------------------------------------------------------------------
ifeq ($(DEMO),1)
$(OUT)/faces/all-train.ndjson: $(SET)/train.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/faces/all-val.ndjson: $(SET)/val.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/videos/demo.ndjson: $(SET)/test-videos.ndjson
	@mkdir -p $(dir $@); cp $< $@
else
# faces/all-<split>: extract-frames | landmarks over the split's videos; SHARDS=N splits it (pipelines/shards.mk)
faces_prefix := all-
ffpp_index = $(BIN)/index-dataset ffpp $(FFPP) --split $* --compression $(COMPRESSION)
include $(dir $(lastword $(MAKEFILE_LIST)))shards.mk
$(OUT)/videos/ffpp-test.ndjson: | check
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset ffpp $(FFPP) --split test --compression $(COMPRESSION) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@
endif

# faces/no-<method>-<split>: every record except that manipulation's fakes (leave one out).
split_of = $(lastword $(subst -, ,$(1)))
$(OUT)/faces/no-%.ndjson: $(OUT)/faces/all-$$(call split_of,$$*).ndjson
	python3 -c 'import json, sys; m = sys.argv[1]; [sys.stdout.write(l) for l in sys.stdin if json.loads(l).get("method") != m]' \
	  "$(call data_of,$*)" < $< > $@.tmp
	@mv $@.tmp $@

# models/<data>-<optimiser>: data "all" or "no-<method>"; optimiser a row of Table IV.
$(OUT)/models/%/best.safetensors: $(OUT)/faces/$$(call data_of,$$*)-train.ndjson $(OUT)/faces/$$(call data_of,$$*)-val.ndjson
	$(BIN)/train $(OUT)/faces/$(call data_of,$*)-train.ndjson -q --recipe roga $(opt_$(call opt_of,$*)) \
	  $(if $(PRETRAINED),--pretrained $(PRETRAINED),$(if $(FROM_SCRATCH),--from-scratch)) --val $(OUT)/faces/$(call data_of,$*)-val.ndjson --seed $(SEED) \
	  --out $(OUT)/models/$* $(TRAIN_FLAGS)
	@test -f $@ || cp $(OUT)/models/$*/last.safetensors $@
opt_of = $(lastword $(subst -, ,$(1)))
data_of = $(patsubst %-$(call opt_of,$(1)),%,$(1))

# --- test sets ---------------------------------------------------------------------------------------
METRICS_FLAGS := --per-method
include $(dir $(lastword $(MAKEFILE_LIST)))reproduce-common.mk

# --- tables ------------------------------------------------------------------------------------------
T1 := $(foreach o,roga sgd sam,$(foreach s,$(TESTSETS) $(INDOMAIN),$(OUT)/metrics/all-$(o)/$(s).csv))
T2 := $(foreach m,$(METHODS),$(OUT)/metrics/no-$(m)-roga/$(INDOMAIN).csv)
HELD := $(firstword $(METHODS))
T4 := $(foreach o,$(OPTIMIZERS),$(OUT)/metrics/no-$(HELD)-$(o)/$(INDOMAIN).csv \
        $(if $(filter 1,$(DEMO)),,$(if $(UADFV),$(OUT)/metrics/all-$(o)/uadfv.csv)))
CSVS := $(if $(filter 1,$(TABLES)),$(T1)) $(if $(filter 2,$(TABLES)),$(T2)) $(if $(filter 4,$(TABLES)),$(T4))

tables: $(CSVS) | check
	python3 scripts/roga_tables.py --out $(OUT) --tables "$(TABLES)" --sets "$(TESTSETS)" --indomain $(INDOMAIN) \
	  --methods "$(METHODS)" --optimizers "$(OPTIMIZERS)" $(if $(filter 1,$(DEMO)),--demo)
	python3 scripts/protocol_card.py --pipeline roga --out $(OUT) --models "$(sort $(foreach f,$(CSVS),$(notdir $(patsubst %/,%,$(dir $(f))))))" \
	  --faces $(OUT)/faces/all-train.ndjson $(if $(PRETRAINED),--weights $(PRETRAINED)) $(if $(filter 1,$(DEMO)),--demo)
