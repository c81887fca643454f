# Tables IV and V of the PIM paper (pim-gradient-regularization.txt) from the benchmarks on disk.
#
#   make reproduce-pim FFPP=/data/FF++ CDF=/data/Celeb-DF-v2 DFDCP=/data/dfdcp DFDC=/data/dfdc WDF=/data/WildDeepfake \
#        [BACKBONES="resnet50 xception efficientnet-b4 convnext_base"] [AUG=deepfakebench] [PRETRAINED_convnext_base=FILE ...]
#
# Steps, each a file target under $(OUT) (make -j parallelises, an interrupted run resumes):
#   index-dataset (FF++ c23: real + Deepfakes, Face2Face, FaceSwap, NeuralTextures) -> extract-frames ($(FRAMES) per video)
#   -> landmarks -> train, per backbone: `pim-base` (the same recipe with a plain ERM step) and `pim`; plus `pim-sbi`
#   (SBI's data and recipe with PIM replacing SAM, $(SBI_BACKBONE), ConvNeXt-Base by default) for Table V -> score-video (32 frames) on CDF, DFDCP,
#   DFDC; score-frames on WildDeepfake's face-crop sequences -> metrics -> scripts/pim_tables.py.
# Checkpoints are chosen on the FF++ val split, never on a test set. A test set that is not given becomes a
# "not provided" column. TRAIN_FLAGS, SCORE_FLAGS (score-video) and FRAME_SCORE_FLAGS (score-frames) override
# settings. DEMO=1 runs the same pipeline on the labelled demo set (toy data).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/reproduce-pim
COMPRESSION ?= c23
FRAMES ?= 32
SEED ?= 5
BACKBONES ?= convnext_base
# Table IV has two halves: without augmentation (the paper's main runs) and with it.
AUG ?= none
SBI ?= 1
SBI_BACKBONE ?= convnext_base
TRAIN_FLAGS ?=
SCORE_FLAGS ?=
FRAME_SCORE_FLAGS ?=
# WildDeepfake frames are face crops already: score the whole image (detect: find faces with dlib first).
WDF_FACES ?= whole
DEMO ?=
SET ?= out/demo-set
FFPP ?=
CDF ?=
DFDCP ?=
DFDC ?=
WDF ?=

# Input size and normalisation of each backbone's ImageNet weights (timm / torchvision / efficientnet_pytorch).
IMAGENET := --set 'input.mean=[123.675,116.28,103.53]' --set 'input.std=[58.395,57.12,57.375]'
flags_resnet50 := --size 224 $(IMAGENET)
flags_xception := --size 224 --set 'input.mean=[127.5,127.5,127.5]' --set 'input.std=[127.5,127.5,127.5]'
flags_efficientnet-b4 := --size 380 $(IMAGENET)
flags_convnext_base := --size 224 $(IMAGENET)
# ImageNet weights are user-supplied (nothing ships them): PRETRAINED_<backbone>=FILE, for every trained backbone (the
# paper fine-tunes ImageNet weights; `check` refuses before any work without them). FROM_SCRATCH=1 trains the ones
# without weights from random initialisation instead, which the checkpoint ("init") and the table say.
FROM_SCRATCH ?=
pretrained = $(if $(PRETRAINED_$(1)),--pretrained $(PRETRAINED_$(1)),$(if $(FROM_SCRATCH),--from-scratch))
TRAINED_BACKBONES = $(sort $(BACKBONES) $(if $(filter 1,$(SBI)),$(SBI_BACKBONE)))

ifeq ($(DEMO),1)
TESTSETS := demo
else
TESTSETS := $(if $(CDF),cdf) $(if $(DFDCP),dfdcp) $(if $(DFDC),dfdc) $(if $(WDF),wdf)
endif
root_cdf := $(CDF)
root_dfdcp := $(DFDCP)
root_dfdc := $(DFDC)

SUFFIX := $(if $(filter none,$(AUG)),,-$(AUG))
MODELS := $(foreach b,$(BACKBONES),pim-base-$(b)$(SUFFIX) pim-$(b)$(SUFFIX)) $(if $(filter 1,$(SBI)),pim-sbi-$(SBI_BACKBONE))

.PHONY: tables check
.SECONDARY:

check:
	@if [ -z "$(FFPP)$(DEMO)" ]; then echo "reproduce-pim: FFPP=<FaceForensics++ root> is required (training uses its real and manipulated videos)" >&2; exit 2; fi
	@missing="$(strip $(foreach b,$(TRAINED_BACKBONES),$(if $(PRETRAINED_$(b)),,$(b))))"; \
	if [ -n "$$missing" ] && [ -z "$(FROM_SCRATCH)" ]; then \
	  echo "reproduce-pim: no ImageNet weights for $$missing (the paper starts from ImageNet): give PRETRAINED_<backbone>=FILE (scripts/fetch-weights.sh --list names the published files), or FROM_SCRATCH=1 to train from random initialisation (not the paper's setting); nothing was run" >&2; exit 2; fi
	@for f in $(foreach b,$(TRAINED_BACKBONES),$(PRETRAINED_$(b))); do [ -f "$$f" ] || { echo "reproduce-pim: $$f: no such weight file" >&2; exit 2; }; done

# --- training and validation faces -------------------------------------------------------------------
ifeq ($(DEMO),1)
$(OUT)/faces/train.ndjson: $(SET)/train.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/faces/val.ndjson: $(SET)/val.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/videos/demo.ndjson: $(SET)/test-videos.ndjson
	@mkdir -p $(dir $@); cp $< $@
else
# faces/<split>: extract-frames | landmarks over the split's videos; SHARDS=N splits it (pipelines/shards.mk)
ffpp_index = $(BIN)/index-dataset ffpp $(FFPP) --split $* --compression $(COMPRESSION)
include $(dir $(lastword $(MAKEFILE_LIST)))shards.mk
endif

# models/<recipe>-<backbone>[-<aug>]: recipe pim-base, pim or pim-sbi; the backbone's size and normalisation.
$(OUT)/models/%/best.safetensors: $(OUT)/faces/train.ndjson $(OUT)/faces/val.ndjson
	name=$*; aug=""; case "$$name" in *-deepfakebench) aug="--augment deepfakebench"; name=$${name%-deepfakebench};; esac; \
	case "$$name" in pim-base-*) recipe=pim-base;; pim-sbi-*) recipe=pim-sbi;; pim-*) recipe=pim;; esac; \
	backbone=$${name#$$recipe-}; \
	$(MAKE) --no-print-directory -f pipelines/reproduce-pim.mk train-one RECIPE=$$recipe BACKBONE=$$backbone MODEL=$* AUGFLAG="$$aug"

.PHONY: train-one
train-one:
	$(BIN)/train $(OUT)/faces/train.ndjson -q --recipe $(RECIPE) --backbone $(BACKBONE) $(flags_$(BACKBONE)) $(AUGFLAG) \
	  $(call pretrained,$(BACKBONE)) --val $(OUT)/faces/val.ndjson --seed $(SEED) --out $(OUT)/models/$(MODEL) $(TRAIN_FLAGS)
	@test -f $(OUT)/models/$(MODEL)/best.safetensors || cp $(OUT)/models/$(MODEL)/last.safetensors $(OUT)/models/$(MODEL)/best.safetensors

# --- test sets ---------------------------------------------------------------------------------------
$(OUT)/videos/%.ndjson:
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset $* $(root_$*) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

$(OUT)/videos/ffpp.ndjson: | check
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset ffpp $(FFPP) --split test --compression $(COMPRESSION) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

$(OUT)/videos/wdf.ndjson:
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset wdf $(WDF) --split test > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

# scores/<model>/<set>.ndjson: videos with score-video (32 frames), WildDeepfake's frames with score-frames.
$(OUT)/scores/%.ndjson:
	@mkdir -p $(dir $@)
	model=$$(dirname $*); set=$$(basename $*); \
	$(MAKE) --no-print-directory -f pipelines/reproduce-pim.mk $(OUT)/models/$$model/best.safetensors $(OUT)/videos/$$set.ndjson; \
	if [ "$$set" = wdf ]; then \
	  $(BIN)/score-frames -q --checkpoint $(OUT)/models/$$model/best.safetensors --faces $(WDF_FACES) $(FRAME_SCORE_FLAGS) < $(OUT)/videos/$$set.ndjson > $@.tmp || test -s $@.tmp; \
	else \
	  $(BIN)/score-video -q --checkpoint $(OUT)/models/$$model/best.safetensors --frames 32 $(SCORE_FLAGS) < $(OUT)/videos/$$set.ndjson > $@.tmp || test -s $@.tmp; \
	fi
	@mv $@.tmp $@

$(OUT)/metrics/%.csv: $(OUT)/scores/%.ndjson
	@mkdir -p $(dir $@)
	$(BIN)/metrics --csv $@ $< > /dev/null || test -s $@

# --- tables ------------------------------------------------------------------------------------------
# Table V's FF++ column (in-dataset, the FF++ c23 test split) for its two ConvNeXt-Base rows.
TABLE5 := $(if $(FFPP),$(filter pim-convnext_base$(SUFFIX) pim-sbi-$(SBI_BACKBONE),$(MODELS)))
CSVS := $(foreach m,$(MODELS),$(foreach s,$(TESTSETS),$(OUT)/metrics/$(m)/$(s).csv)) $(foreach m,$(TABLE5),$(OUT)/metrics/$(m)/ffpp.csv)

tables: $(CSVS) | check
	python3 scripts/pim_tables.py --out $(OUT) --backbones "$(BACKBONES)" --aug $(AUG) --sets "$(TESTSETS)" \
	  $(if $(filter 1,$(SBI)),--sbi $(SBI_BACKBONE)) $(if $(filter 1,$(DEMO)),--demo)
