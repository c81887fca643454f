# Sharded preprocessing of FF++ splits, shared by the reproduce-*.mk pipelines (docs/scale-out.md). Include in place
# of the faces rule with ffpp_index set (the command printing split $*'s video records; recursive, `=`) and, if the
# face files have a prefix, faces_prefix (e.g. `all-`).
#
#   SHARDS=1 (default): faces/<prefix><split>.ndjson = ffpp_index | extract-frames | landmarks, as before.
#   SHARDS=N: faces/<prefix><split>.videos.ndjson holds the split's video records; shard K of N is its own target,
#     faces/<prefix><split>.shard-K-of-N.ndjson (extract-frames --shard K/N | landmarks), so `make -j N` builds them at
#     once and Slurm array task K builds one (`make ... SHARDS=N <that file>`); faces/<prefix><split>.ndjson merges
#     them back into the order of the video records (records merge-shards): the same lines as an unsharded run.
SHARDS ?= 1
faces_prefix ?=
ifneq ($(shell [ "$(SHARDS)" -ge 1 ] 2>/dev/null && echo ok),ok)
$(error SHARDS must be a positive integer (got "$(SHARDS)"))
endif
# DETECTOR_FLAGS: the paper's face detector (pipelines/detectors.mk).
faces_cmd = $(BIN)/extract-frames -q --frames $(FRAMES) --out $(OUT)/frames $(1) | $(BIN)/landmarks -q $(DETECTOR_FLAGS) --out $(OUT)/crops
FACES_DIR := $(OUT)/faces

ifeq ($(SHARDS),1)
$(FACES_DIR)/$(faces_prefix)%.ndjson: | check
	@mkdir -p $(FACES_DIR)
	$(ffpp_index) | $(call faces_cmd) > $@.tmp
	@mv $@.tmp $@
else
SHARD_IDS := $(shell seq 0 $$(( $(SHARDS) - 1 )))
$(FACES_DIR)/$(faces_prefix)%.videos.ndjson: | check
	@mkdir -p $(FACES_DIR)
	$(ffpp_index) > $@.tmp
	@mv $@.tmp $@
define shard_rule
$(FACES_DIR)/$(faces_prefix)%.shard-$(1)-of-$(SHARDS).ndjson: $(FACES_DIR)/$(faces_prefix)%.videos.ndjson
	$$(call faces_cmd,--shard $(1)/$(SHARDS) < $$<) > $$@.tmp
	@mv $$@.tmp $$@
endef
$(foreach k,$(SHARD_IDS),$(eval $(call shard_rule,$(k))))
$(FACES_DIR)/$(faces_prefix)%.ndjson: $(FACES_DIR)/$(faces_prefix)%.videos.ndjson $(foreach k,$(SHARD_IDS),$(FACES_DIR)/$(faces_prefix)%.shard-$(k)-of-$(SHARDS).ndjson)
	$(BIN)/records merge-shards --key video $^ > $@.tmp
	@mv $@.tmp $@
endif
