# Tables IV and V of the PIM paper (pim-gradient-regularization.txt) from the benchmarks on disk.
#
#   make reproduce-pim FFPP=/data/FF++ CDF=/data/Celeb-DF-v2 DFDCP=/data/dfdcp DFDC=/data/dfdc WDF=/data/WildDeepfake \
#        [BACKBONES="resnet50 xception efficientnet-b4 convnext_base"] [AUG=pim] [PRETRAINED_convnext_base=FILE ...]
#
# Steps, each a file target under $(OUT) (make -j parallelises, an interrupted run resumes):
#   index-dataset (FF++ c23: real + Deepfakes, Face2Face, FaceSwap, NeuralTextures) -> extract-frames ($(FRAMES) per video)
#   -> landmarks (RetinaFace, as SBI) -> train, per backbone: `pim-base` (the same recipe with a plain ERM step) and
#   `pim`; plus, for Table V, `sbi` (SBI*) and `pim-sbi` (SBI's data and recipe with PIM replacing SAM) on $(SBI_BACKBONE),
#   ConvNeXt-Base by default, from raw FF++ reals -> score-video (32 frames) on CDF, DFDCP, DFDC; score-frames on 32
#   frames of each WildDeepfake face sequence -> metrics -> scripts/pim_tables.py and the protocol card (OUT/card.md).
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
# Table IV has two halves: without augmentation (the paper's main runs) and with it: AUG=pim, the paper's six
# transforms (Sec. V-B; data.augment pim). AUG=deepfakebench trains with DeepfakeBench's set instead (the card lists it).
AUG ?= none
SBI ?= 1
SBI_BACKBONE ?= convnext_base
# The SBI rows (SBI*, and PIM on FF++ reals + SBI pairs) follow SBI's official code, which trains on raw FF++ reals.
SBI_COMPRESSION ?= raw
# Faces: the paper does not say; its SBI row is SBI's (RetinaFace, 12.5% around the RetinaFace box) and Table V sets every
# row beside SBI*, so every row takes SBI's detector and crop (pipelines/paper-protocols.json, "reading").
PIPELINE := reproduce-pim
PAPER_DETECTOR := retinaface
include $(dir $(lastword $(MAKEFILE_LIST)))detectors.mk
CROP_FLAGS = $(if $(filter retinaface,$(DETECTOR)),--set input.train_crop=margin:0.125:retina --set input.test_crop=margin:0.125:retina)
TRAIN_FLAGS ?=
SCORE_FLAGS ?=
FRAME_SCORE_FLAGS ?=
# WildDeepfake frames are face crops already: score the whole image (detect: find faces with dlib first).
WDF_FACES ?= whole
# Sec. V-A2: 32 frames of each video at equal intervals; WildDeepfake's test set is face sequences, so 32 of each.
WDF_FRAMES ?= 32
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
# With SBI=1 also Table V's SBI* (SBI's own recipe, SAM, on $(SBI_BACKBONE)) and PIM on SBI's data.
MODELS := $(foreach b,$(BACKBONES),pim-base-$(b)$(SUFFIX) pim-$(b)$(SUFFIX)) $(if $(filter 1,$(SBI)),sbi-$(SBI_BACKBONE) pim-sbi-$(SBI_BACKBONE))

.PHONY: tables check
.SECONDARY:
.SECONDEXPANSION:

check:
	@if [ -z "$(FFPP)$(DEMO)" ]; then echo "reproduce-pim: FFPP=<FaceForensics++ root> is required (training uses its real and manipulated videos)" >&2; exit 2; fi
	@missing="$(strip $(foreach b,$(TRAINED_BACKBONES),$(if $(PRETRAINED_$(b)),,$(b))))"; \
	if [ -n "$$missing" ] && [ -z "$(FROM_SCRATCH)" ]; then \
	  echo "reproduce-pim: no ImageNet weights for $$missing (the paper starts from ImageNet): give PRETRAINED_<backbone>=FILE (scripts/fetch-weights.sh --list names the published files), or FROM_SCRATCH=1 to train from random initialisation (not the paper's setting); nothing was run" >&2; exit 2; fi
	@for f in $(foreach b,$(TRAINED_BACKBONES),$(PRETRAINED_$(b))); do [ -f "$$f" ] || { echo "reproduce-pim: $$f: no such weight file" >&2; exit 2; }; done
	$(check_detector)

# --- training and validation faces -------------------------------------------------------------------
ifeq ($(DEMO),1)
$(OUT)/faces/train.ndjson: $(SET)/train.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/faces/val.ndjson: $(SET)/val.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/videos/demo.ndjson: $(SET)/test-videos.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/faces/sbi-%.ndjson: $(OUT)/faces/%.ndjson
	cp $< $@
else
# faces/sbi-<split>: the split's real videos at SBI_COMPRESSION, for the SBI rows (pseudo-fakes are made from reals).
$(OUT)/faces/sbi-%.ndjson: | check
	@mkdir -p $(OUT)/faces
	$(BIN)/index-dataset ffpp $(FFPP) --split $* --real-only --compression $(SBI_COMPRESSION) | $(call faces_cmd) > $@.tmp
	@mv $@.tmp $@
# faces/<split>: extract-frames | landmarks over the split's videos; SHARDS=N splits it (pipelines/shards.mk)
ffpp_index = $(BIN)/index-dataset ffpp $(FFPP) --split $* --compression $(COMPRESSION)
include $(dir $(lastword $(MAKEFILE_LIST)))shards.mk
endif

# models/<recipe>-<backbone>[-<aug>]: recipe pim-base, pim, pim-sbi or sbi; the backbone's size and normalisation.
# The SBI rows train on faces/sbi-<split> (reals at SBI_COMPRESSION), the others on faces/<split>.
faces_of = $(if $(filter sbi-% pim-sbi-%,$(1)),sbi-)
$(OUT)/models/%/best.safetensors: $(OUT)/faces/$$(call faces_of,$$*)train.ndjson $(OUT)/faces/$$(call faces_of,$$*)val.ndjson
	name=$*; aug=""; case "$$name" in *-pim|*-deepfakebench) aug="--augment $${name##*-}"; name=$${name%-*};; esac; \
	case "$$name" in pim-base-*) recipe=pim-base;; pim-sbi-*) recipe=pim-sbi;; pim-*) recipe=pim;; sbi-*) recipe=sbi;; esac; \
	backbone=$${name#$$recipe-}; \
	$(MAKE) --no-print-directory -f pipelines/reproduce-pim.mk train-one RECIPE=$$recipe BACKBONE=$$backbone MODEL=$* AUGFLAG="$$aug" \
	  FACES=$(call faces_of,$*)

.PHONY: train-one
FACES ?=
train-one:
	$(BIN)/train $(OUT)/faces/$(FACES)train.ndjson -q --recipe $(RECIPE) --backbone $(BACKBONE) $(flags_$(BACKBONE)) $(AUGFLAG) \
	  $(call pretrained,$(BACKBONE)) --val $(OUT)/faces/$(FACES)val.ndjson --seed $(SEED) --out $(OUT)/models/$(MODEL) $(CROP_FLAGS) $(TRAIN_FLAGS)
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
	$(BIN)/index-dataset wdf $(WDF) --split test --frames-per-video $(WDF_FRAMES) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

# scores/<model>/<set>.ndjson: videos with score-video (32 frames), WildDeepfake's frames with score-frames.
model_of = $(patsubst %/,%,$(dir $(1)))
$(OUT)/scores/%.ndjson: $(OUT)/models/$$(call model_of,$$*)/best.safetensors $(OUT)/videos/$$(notdir $$*).ndjson
	@mkdir -p $(dir $@)
	$(if $(filter wdf,$(notdir $*)),$(BIN)/score-frames -q --checkpoint $< --faces $(WDF_FACES) $(FRAME_SCORE_FLAGS),$(BIN)/score-video -q --checkpoint $< --frames 32 $(DETECTOR_FLAGS) $(SCORE_FLAGS)) \
	  < $(OUT)/videos/$(notdir $*).ndjson > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

$(OUT)/metrics/%.csv: $(OUT)/scores/%.ndjson
	@mkdir -p $(dir $@)
	$(BIN)/metrics --csv $@ $< > /dev/null || test -s $@

# --- tables ------------------------------------------------------------------------------------------
# Table V's FF++ column (in-dataset, the FF++ c23 test split) for its two ConvNeXt-Base rows.
TABLE5 := $(if $(FFPP),$(filter pim-convnext_base$(SUFFIX) sbi-$(SBI_BACKBONE) pim-sbi-$(SBI_BACKBONE),$(MODELS)))
CSVS := $(foreach m,$(MODELS),$(foreach s,$(TESTSETS),$(OUT)/metrics/$(m)/$(s).csv)) $(foreach m,$(TABLE5),$(OUT)/metrics/$(m)/ffpp.csv)

tables: $(CSVS) | check
	python3 scripts/pim_tables.py --out $(OUT) --backbones "$(BACKBONES)" --aug $(AUG) --sets "$(TESTSETS)" \
	  $(if $(filter 1,$(SBI)),--sbi $(SBI_BACKBONE)) $(if $(filter 1,$(DEMO)),--demo)
	python3 scripts/protocol_card.py --pipeline pim --out $(OUT) --models "$(MODELS)" --faces $(OUT)/faces/train.ndjson \
	  $(if $(filter 1,$(SBI)),sbi-=$(OUT)/faces/sbi-train.ndjson pim-sbi-=$(OUT)/faces/sbi-train.ndjson) --weights $(foreach b,$(TRAINED_BACKBONES),$(PRETRAINED_$(b))) $(if $(filter 1,$(DEMO)),--demo)
