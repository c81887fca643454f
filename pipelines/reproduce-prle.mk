# Table II (and the ablations of Tables IV, V and VII) of the PRLE paper (prle-primary-region-regularization.txt).
#
#   make reproduce-prle FFPP=/data/FF++ DFDC=/data/dfdc DF1=/data/DeeperForensics-1.0 CDF=/data/Celeb-DF-v2 \
#        [BACKBONES="xception efficientnet-b4 vgg16_bn resnet50"] [ABLATIONS="random landmarks average no-exploitation"]
#        [PRETRAINED_<backbone>=FILE ...]
#
# Steps, each a file target under $(OUT) (an interrupted run resumes):
#   index-dataset (FF++ c23: real + Deepfakes, Face2Face, FaceSwap, FaceShifter, NeuralTextures) -> extract-frames (32 per
#   video) -> landmarks (dlib, aligned 256 px crops) -> the zoo (`prle-zoo-*` per ZOO backbone: the supervised baseline
#   on PRLE's crop) -> prle-cam-fuse over the training faces (fused Grad-CAM maps) -> per backbone: the baseline
#   (`prle-baseline`: prle with the masking off) and `prle` -> score-video (32 frames) on DFDC, DeeperForensics-1.0 and
#   Celeb-DF -> metrics (frame level) -> scripts/prle_tables.py and the protocol card (OUT/card.md).
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
# DF-1.0: the paper tests "the 1,000 testing set videos with mixed distortions" (Sec. IV-A) without naming the folder;
# end_to_end_random_level (randomly chosen distortions at random levels) is our reading; end_to_end (clean) and the
# end_to_end_mix_{2,3,4}_distortions sets are the alternatives. Reals that are FF++ train/val videos are left out.
DF1_VARIANT ?= end_to_end_random_level
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
TRAINED_BACKBONES = $(sort $(filter-out $(ZOO_SCRATCH),$(ZOO)) $(BACKBONES))
# The zoo's recipes (prle-zoo-*: the supervised baseline on PRLE's crop); the paper's Xception member is not
# ImageNet-initialised (Sec. IV-B), so it takes no weights. Other backbones: erm on the same crop.
zoo_recipe = $(if $(filter xception,$(1)),prle-zoo-xception,$(if $(filter efficientnet-b4,$(1)),prle-zoo-efficientnet-b4,$(if $(filter vgg16_bn,$(1)),prle-zoo-vgg16,erm)))
ZOO_SCRATCH := $(if $(filter 1,$(DEMO)),,xception)

ifeq ($(DEMO),1)
TESTSETS := demo
else
TESTSETS := $(if $(DFDC),dfdc) $(if $(DF1),df1) $(if $(CDF),cdf)
endif
root_dfdc := $(DFDC)
root_cdf := $(CDF)
MAIN := $(firstword $(BACKBONES))

# Sec. IV-B: dlib faces, aligned at 256 px (the recipes' input.*_crop align:256:1.3; the zoo is trained on the same
# crop, so its maps line up with PRLE's training crop).
PIPELINE := reproduce-prle
PAPER_DETECTOR := hog
include $(dir $(lastword $(MAKEFILE_LIST)))detectors.mk
ZOO_CROP := --set input.train_crop=align:256:1.3 --set input.test_crop=align:256:1.3

.PHONY: tables check
.SECONDARY:
.SECONDEXPANSION:

check:
	@if [ -z "$(FFPP)$(DEMO)" ]; then echo "reproduce-prle: FFPP=<FaceForensics++ root> is required (training uses its videos)" >&2; exit 2; fi
	@missing="$(strip $(foreach b,$(TRAINED_BACKBONES),$(if $(PRETRAINED_$(b)),,$(b))))"; \
	if [ -n "$$missing" ] && [ -z "$(FROM_SCRATCH)" ]; then \
	  echo "reproduce-prle: no ImageNet weights for $$missing (the paper starts from ImageNet): give PRETRAINED_<backbone>=FILE (scripts/fetch-weights.sh --list names the published files), or FROM_SCRATCH=1 to train from random initialisation (not the paper's setting); nothing was run" >&2; exit 2; fi
	@for f in $(foreach b,$(TRAINED_BACKBONES),$(PRETRAINED_$(b))); do [ -f "$$f" ] || { echo "reproduce-prle: $$f: no such weight file" >&2; exit 2; }; done
	$(check_detector)

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
	$(BIN)/train $< -q --recipe $(call zoo_recipe,$*) --backbone $* $(ZOO_CROP) $(if $(filter $(ZOO_SCRATCH),$*),,$(call pretrained,$*)) --val $(OUT)/faces/val.ndjson --seed $(SEED) \
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
	$(BIN)/index-dataset df1 $(DF1) --real-root $(FFPP) --split test --variant $(DF1_VARIANT) --exclude-ffpp-split train val \
	  > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

include $(dir $(lastword $(MAKEFILE_LIST)))reproduce-common.mk

# --- tables ------------------------------------------------------------------------------------------
MODELS := $(foreach b,$(BACKBONES),base-$(b) prle-$(b)) $(foreach a,$(ABLATIONS),prle-$(a)@$(MAIN))
CSVS := $(foreach m,$(MODELS),$(foreach s,$(TESTSETS),$(OUT)/metrics/$(m)/$(s).csv))

tables: $(CSVS) | check
	python3 scripts/prle_tables.py --out $(OUT) --backbones "$(BACKBONES)" --ablations "$(ABLATIONS)" --sets "$(TESTSETS)" \
	  --zoo "$(ZOO)" $(if $(filter 1,$(DEMO)),--demo)
	python3 scripts/protocol_card.py --pipeline prle --out $(OUT) --models "$(MODELS) $(foreach b,$(ZOO),erm-$(b))" --faces $(OUT)/faces/train.ndjson \
	  --weights $(foreach b,$(TRAINED_BACKBONES),$(PRETRAINED_$(b))) $(if $(filter 1,$(DEMO)),--demo)
