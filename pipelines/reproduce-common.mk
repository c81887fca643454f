# What the method pipelines (reproduce-roga.mk, reproduce-prle.mk, reproduce-did.mk) share: a benchmark's test videos
# (index-dataset <set> $(root_<set>)), a model's scores on them (score-video, 32 frames, the paper's detector:
# DETECTOR_FLAGS, pipelines/detectors.mk) and their metrics. Models live
# in $(OUT)/models/<model>/best.safetensors; scores/<model>/<set>.ndjson; metrics/<model>/<set>.csv. METRICS_FLAGS
# adds metrics flags (e.g. --per-method). Include after OUT, BIN and SCORE_FLAGS are set, with .SECONDEXPANSION on.
$(OUT)/videos/%.ndjson:
	@mkdir -p $(OUT)/videos
	$(BIN)/index-dataset $* $(root_$*) > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

# (a `%` written in a pattern rule's prerequisites is the stem, hence the helper function)
model_of = $(patsubst %/,%,$(dir $(1)))
$(OUT)/scores/%.ndjson: $(OUT)/models/$$(call model_of,$$*)/best.safetensors $(OUT)/videos/$$(notdir $$*).ndjson
	@mkdir -p $(dir $@)
	$(BIN)/score-video -q --checkpoint $< --frames 32 $(DETECTOR_FLAGS) $(SCORE_FLAGS) < $(OUT)/videos/$(notdir $*).ndjson > $@.tmp || test -s $@.tmp
	@mv $@.tmp $@

$(OUT)/metrics/%.csv: $(OUT)/scores/%.ndjson
	@mkdir -p $(dir $@)
	$(BIN)/metrics --csv $@ $(METRICS_FLAGS) $< > /dev/null || test -s $@
