# Table II (and the ablations of Tables IV, V and VII) of the PRLE paper (prle-primary-region-regularization.txt).
#
#   make reproduce-prle FFPP=/data/FF++ DFDC=/data/dfdc DF1=/data/DeeperForensics-1.0 CDF=/data/Celeb-DF-v2 \
#        [BACKBONES="xception efficientnet-b4 vgg16_bn resnet50"] [ABLATIONS="random landmarks average no-exploitation"]
#        [PRETRAINED_<backbone>=FILE ...]
#
# Steps, each a file target under $(OUT) (an interrupted run resumes):
#   index-dataset (FF++ c23: real + Deepfakes, Face2Face, FaceSwap, FaceShifter, NeuralTextures) -> extract-frames (32 per
#   video) -> landmarks -> the zoo (`erm` per ZOO backbone, the paper's supervised baseline) -> prle-cam-fuse over the
#   training faces (fused Grad-CAM maps) -> per backbone: the plain detector (`erm`; the zoo's own model when the
#   backbone is in the zoo) and `prle` -> score-video (32 frames) on DFDC, DeeperForensics-1.0 and Celeb-DF ->
#   metrics (frame level) -> scripts/prle_tables.py.
# Checkpoints are chosen on the FF++ val split (the reference code selects on the test split; we do not).
# DEMO=1 runs the same pipeline on the labelled demo set (toy data).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/reproduce-prle
COMPRESSION ?= c23
FRAMES ?= 32
SEED ?= 5
BACKBONES ?= efficientnet-b4
ZOO ?= xception efficientnet-b4 vgg16_bn
# Ablations, on the first backbone: random (rectangles, Table IV), landmarks (Table IV), average (average fusion only,
# Table V), no-exploitation (alpha fixed at 1, Table VII).
ABLATIONS ?=
METHODS ?= Deepfakes Face2Face FaceSwap FaceShifter NeuralTextures
DF1_VARIANT ?= end_to_end
TRAIN_FLAGS ?=
SCORE_FLAGS ?=
FUSE_FLAGS ?=
DEMO ?=
SET ?= out/demo-set
FFPP ?=
DFDC ?=
DF1 ?=
CDF ?=
# ImageNet weights for every trained backbone (zoo and PRLE): PRETRAINED_<backbone>=FILE; `check` refuses before any
# work without them unless FROM_SCRATCH=1, which trains the backbones without weights from random initialisation.
FROM_SCRATCH ?=
pretrained = $(if $(PRETRAINED_$(1)),--pretrained $(PRETRAINED_$(1)),$(if $(FROM_SCRATCH),--from-scratch))
TRAINED_BACKBONES = $(sort $(ZOO) $(BACKBONES))

ifeq ($(DEMO),1)
TESTSETS := demo
else
TESTSETS := $(if $(DFDC),dfdc) $(if $(DF1),df1) $(if $(CDF),cdf)
endif
root_dfdc := $(DFDC)
root_cdf := $(CDF)
MAIN := $(firstword $(BACKBONES))

.PHONY: tables check
.SECONDARY:
.SECONDEXPANSION:

check:
	@if [ -z "$(FFPP)$(DEMO)" ]; then echo "reproduce-prle: FFPP=<FaceForensics++ root> is required (training uses its videos)" >&2; exit 2; fi
	@missing="$(strip $(foreach b,$(TRAINED_BACKBONES),$(if $(PRETRAINED_$(b)),,$(b))))"; \
	if [ -n "$$missing" ] && [ -z "$(FROM_SCRATCH)" ]; then \
	  echo "reproduce-prle: no ImageNet weights for $$missing (the paper starts from ImageNet): give PRETRAINED_<backbone>=FILE (scripts/fetch-weights.sh --list names the published files), or FROM_SCRATCH=1 to train from random initialisation (not the paper's setting); nothing was run" >&2; exit 2; fi
	@for f in $(foreach b,$(TRAINED_BACKBONES),$(PRETRAINED_$(b))); do [ -f "$$f" ] || { echo "reproduce-prle: $$f: no such weight file" >&2; exit 2; }; done

# --- training and validation faces -------------------------------------------------------------------
ifeq ($(DEMO),1)
$(OUT)/faces/%.ndjson: $(SET)/%.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/videos/demo.ndjson: $(SET)/test-videos.ndjson
	@mkdir -p $(dir $@); cp $< $@
else
# faces/<split>: extract-frames | landmarks over the split's videos; SHARDS=N splits it (pipelines/shards.mk)
ffpp_index = $(BIN)/index-dataset ffpp $(FFPP) --split $* --compression $(COMPRESSION) --methods $(METHODS)
include $(dir $(lastword $(MAKEFILE_LIST)))shards.mk
endif

# --- the zoo and its fused maps ----------------------------------------------------------------------
$(OUT)/models/erm-%/best.safetensors: $(OUT)/faces/train.ndjson $(OUT)/faces/val.ndjson
	$(BIN)/train $< -q --recipe erm --backbone $* $(call pretrained,$*) --val $(OUT)/faces/val.ndjson --seed $(SEED) \
	  --out $(OUT)/models/erm-$* $(TRAIN_FLAGS)
	@test -f $@ || cp $(OUT)/models/erm-$*/last.safetensors $@

ZOO_CKPTS := $(foreach b,$(ZOO),$(OUT)/models/erm-$(b)/best.safetensors)

# maps-<fusion>.ndjson: the training faces with their fused maps (union: the default reading; average: Table V).
$(OUT)/maps-%.ndjson: $(OUT)/faces/train.ndjson $(ZOO_CKPTS)
	$(BIN)/prle-cam-fuse -q $< $(foreach c,$(ZOO_CKPTS),--zoo $(c)) --fusion $* --out $(OUT)/maps-$* \
	  $(if $(filter union,$*),--overlay $(OUT)/overlay.png) $(FUSE_FLAGS) > $@.tmp
	@mv $@.tmp $@

# base-<backbone>: Table II's "backbone" row, the prle recipe with the masking off (prle-baseline), so that it and
# prle-<backbone> differ by PRLE alone.
$(OUT)/models/base-%/best.safetensors: $(OUT)/faces/train.ndjson $(OUT)/faces/val.ndjson
	$(BIN)/train $< -q --recipe prle-baseline --backbone $* $(call pretrained,$*) --val $(OUT)/faces/val.ndjson --seed $(SEED) \
	  --out $(OUT)/models/base-$* $(TRAIN_FLAGS)
	@test -f $@ || cp $(OUT)/models/base-$*/last.safetensors $@

# prle[-<ablation>]-<backbone>: the prle recipe on the maps; ablations change the mask source, the maps or alpha.
abl_flags_random := --set prle.mask=random
abl_flags_landmarks := --set prle.mask=landmarks
abl_flags_no-exploitation := --set prle.alpha=1
maps_of = $(if $(filter average,$(1)),average,union)
$(OUT)/models/prle-%/best.safetensors: $(OUT)/maps-$$(call maps_of,$$(call abl_of,$$*)).ndjson $(OUT)/faces/val.ndjson
	$(BIN)/train $< -q --recipe prle --backbone $(call bb_of,$*) $(abl_flags_$(call abl_of,$*)) $(call pretrained,$(call bb_of,$*)) \
	  --val $(OUT)/faces/val.ndjson --seed $(SEED) --out $(OUT)/models/prle-$* $(TRAIN_FLAGS)
	@test -f $@ || cp $(OUT)/models/prle-$*/last.safetensors $@
# "<ablation>@<backbone>" or "<backbone>"
abl_of = $(if $(findstring @,$(1)),$(firstword $(subst @, ,$(1))))
bb_of = $(lastword $(subst @, ,$(1)))

# --- test sets ---------------------------------------------------------------------------------------
$(OUT)/videos/df1.ndjson: | check
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset df1 $(DF1) --real-root $(FFPP) --split test --variant $(DF1_VARIANT) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

include $(dir $(lastword $(MAKEFILE_LIST)))reproduce-common.mk

# --- tables ------------------------------------------------------------------------------------------
MODELS := $(foreach b,$(BACKBONES),base-$(b) prle-$(b)) $(foreach a,$(ABLATIONS),prle-$(a)@$(MAIN))
CSVS := $(foreach m,$(MODELS),$(foreach s,$(TESTSETS),$(OUT)/metrics/$(m)/$(s).csv))

tables: $(CSVS) | check
	python3 scripts/prle_tables.py --out $(OUT) --backbones "$(BACKBONES)" --ablations "$(ABLATIONS)" --sets "$(TESTSETS)" \
	  --zoo "$(ZOO)" $(if $(filter 1,$(DEMO)),--demo)
