# Tables I and III of the CrossDF paper (crossdf-deep-information-decomposition.txt): DID against a BCE baseline
# trained the same way, and the ablations.
#
#   make reproduce-did FFPP=/data/FF++ CDF=/data/Celeb-DF-v2 [PRETRAINED=EfficientNetV2-L ImageNet weights]
#        [ABLATIONS="no-adom no-t a-0 a-0.25 a-0.75 a-1"]
#
# Steps, each a file target under $(OUT) (an interrupted run resumes):
#   index-dataset (FF++ c23: real + Deepfakes, Face2Face, FaceSwap, NeuralTextures; the methods are the domains) ->
#   extract-frames (32 per video) -> landmarks (MTCNN; faces aligned on its five points at 224 px) -> train (`did`; `bce`: the same recipe with a plain ERM step, i.e. one
#   cross-entropy loss on the same grayscale faces, backbone, optimiser and epochs; the ablations) -> score-video (32
#   frames) on the FF++ c23 test split and Celeb-DF v2 -> metrics (frame level) -> scripts/did_tables.py
#   and the protocol card (OUT/card.md).
# Checkpoints are chosen on the FF++ val split, never on a test set. DEMO=1 runs the same pipeline on the labelled demo
# set, whose manipulations (face-swap, reenact, blend) are the domains.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/reproduce-did
COMPRESSION ?= c23
FRAMES ?= 32
SEED ?= 5
ABLATIONS ?= no-adom no-t a-0 a-1
PRETRAINED ?=
# Without PRETRAINED, `check` refuses before any work unless FROM_SCRATCH=1 (random initialisation, not the paper's).
FROM_SCRATCH ?=
TRAIN_FLAGS ?=
SCORE_FLAGS ?=
DEMO ?=
SET ?= out/demo-set
FFPP ?=
CDF ?=

ifeq ($(DEMO),1)
TESTSETS := demo
else
TESTSETS := ffpp-test $(if $(CDF),cdf)
endif
root_cdf := $(CDF)

# How each model is trained: the `did` recipe with these overrides.
flags_did :=
flags_bce := --step erm
flags_no-adom := --set did.domain_attention=false
flags_no-t := --set did.decorrelation=false

# Sec. IV-A: MTCNN-aligned 224 px grayscale faces: landmarks --detector mtcnn, and the crop aligned on MTCNN's five
# points (the recipe's default aligns on the 68 landmarks' five, which the demo set's dlib faces have).
PIPELINE := reproduce-did
PAPER_DETECTOR := mtcnn
include $(dir $(lastword $(MAKEFILE_LIST)))detectors.mk
CROP_FLAGS = $(if $(filter mtcnn retinaface,$(DETECTOR)),--set input.train_crop=align:224:1.3:detector --set input.test_crop=align:224:1.3:detector)

.PHONY: tables check
.SECONDARY:
.SECONDEXPANSION:

check:
	@if [ -z "$(FFPP)$(DEMO)" ]; then echo "reproduce-did: FFPP=<FaceForensics++ root> is required (training uses its videos)" >&2; exit 2; fi
	@if [ -z "$(PRETRAINED)$(FROM_SCRATCH)" ]; then \
	  echo "reproduce-did: no ImageNet weights (the paper starts EfficientNetV2-L from ImageNet): give PRETRAINED=FILE (scripts/fetch-weights.sh efficientnetv2_l downloads it), or FROM_SCRATCH=1 to train from random initialisation (not the paper's setting); nothing was run" >&2; exit 2; fi
	@if [ -n "$(PRETRAINED)" ] && [ ! -f "$(PRETRAINED)" ]; then echo "reproduce-did: PRETRAINED=$(PRETRAINED): no such weight file" >&2; exit 2; fi
	$(check_detector)

ifeq ($(DEMO),1)
$(OUT)/faces/%.ndjson: $(SET)/%.ndjson
	@mkdir -p $(dir $@); cp $< $@
$(OUT)/videos/demo.ndjson: $(SET)/test-videos.ndjson
	@mkdir -p $(dir $@); cp $< $@
else
# faces/<split>: extract-frames | landmarks over the split's videos; SHARDS=N splits it (pipelines/shards.mk)
ffpp_index = $(BIN)/index-dataset ffpp $(FFPP) --split $* --compression $(COMPRESSION)
include $(dir $(lastword $(MAKEFILE_LIST)))shards.mk
$(OUT)/videos/ffpp-test.ndjson: | check
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset ffpp $(FFPP) --split test --compression $(COMPRESSION) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@
endif

# flags of a model: flags_<name>, or the a-<value> sweep
model_flags = $(if $(filter a-%,$(1)),--set did.alpha=$(patsubst a-%,%,$(1)),$(flags_$(1)))
$(OUT)/models/%/best.safetensors: $(OUT)/faces/train.ndjson $(OUT)/faces/val.ndjson
	$(BIN)/train $< -q --recipe did $(call model_flags,$*) $(CROP_FLAGS) $(if $(PRETRAINED),--pretrained $(PRETRAINED),$(if $(FROM_SCRATCH),--from-scratch)) \
	  --val $(OUT)/faces/val.ndjson --seed $(SEED) --out $(OUT)/models/$* $(TRAIN_FLAGS)
	@test -f $@ || cp $(OUT)/models/$*/last.safetensors $@

include $(dir $(lastword $(MAKEFILE_LIST)))reproduce-common.mk

MODELS := did bce $(ABLATIONS)
CSVS := $(foreach m,$(MODELS),$(foreach s,$(TESTSETS),$(OUT)/metrics/$(m)/$(s).csv))

tables: $(CSVS) | check
	python3 scripts/did_tables.py --out $(OUT) --sets "$(TESTSETS)" --ablations "$(ABLATIONS)" $(if $(filter 1,$(DEMO)),--demo)
	python3 scripts/protocol_card.py --pipeline did --out $(OUT) --models "$(MODELS)" --faces $(OUT)/faces/train.ndjson \
	  $(if $(PRETRAINED),--weights $(PRETRAINED)) $(if $(filter 1,$(DEMO)),--demo)
