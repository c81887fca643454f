# Videos -> sampled frames -> faces with landmarks and crops, one file target per video.
#
#   make -f pipelines/faces.mk VIDEOS="a.mp4 b.mov" OUT=out/faces [FRAMES=32] [CROP=sbi] [BIN=.build/release] [-j2]
#
# Each video's faces land in $(OUT)/faces/<name>.ndjson (written to a temporary file, then renamed), so an
# interrupted run resumes where it stopped and `make -j` works on several videos at once. The tools skip
# frames and crops that already exist. $(OUT)/faces.ndjson concatenates all videos in the order given.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/faces
FRAMES ?= 32
CROP ?= sbi
THREADS ?= 2
VIDEOS ?=

name = $(basename $(notdir $(1)))
FACE_FILES := $(foreach v,$(VIDEOS),$(OUT)/faces/$(call name,$(v)).ndjson)

.PHONY: faces summary pseudofakes
faces: $(OUT)/faces.ndjson

define video_rule
$(OUT)/faces/$(call name,$(1)).ndjson: $(1)
	@mkdir -p $(OUT)/faces
	$(BIN)/extract-frames -q --frames $(FRAMES) --out $(OUT)/frames $(1) \
	  | $(BIN)/landmarks -q --threads $(THREADS) --crop $(CROP) --out $(OUT)/crops > $$@.tmp
	@mv $$@.tmp $$@
endef
$(foreach v,$(VIDEOS),$(eval $(call video_rule,$(v))))

$(OUT)/faces.ndjson: $(FACE_FILES)
	cat $^ > $@.tmp && mv $@.tmp $@

summary: $(OUT)/faces.ndjson
	@$(BIN)/records faces-summary $<
	@echo "($(FRAMES) frames per video, evenly spaced; dlib HOG detector (faces of every size, docs/detectors.md) + 68-point predictor)"

# Self-blended pseudo-fakes of every face (LAL masks, seed 5) and a contact sheet to look at.
$(OUT)/pseudofakes.ndjson: $(OUT)/faces.ndjson
	$(BIN)/synth-sbi -q --seed 5 --mask lal --out $(OUT)/sbi --contact-sheet $(OUT)/sbi-contact-sheet.png < $< > $@.tmp
	@mv $@.tmp $@

pseudofakes: $(OUT)/pseudofakes.ndjson
	@echo "pseudo-fakes: $$(grep -c '"label":1' $<) pairs in $(OUT)/sbi; contact sheet (real | mask | fake): $(OUT)/sbi-contact-sheet.png"
