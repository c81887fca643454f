#!/usr/bin/env bash
# libFuzzer targets for the parsers that read outside input (docs/hardening.md).
#   Fuzz/fuzz.sh build            build every target (instrumented) into .build/fuzz
#   Fuzz/fuzz.sh run SECONDS      run each target for SECONDS on Fuzz/corpus/<target> (new inputs: .build/fuzz/corpus)
#   Fuzz/fuzz.sh merge            fold the grown corpus, minimised, back into Fuzz/corpus
# The library sources are compiled here with swiftc -sanitize=fuzzer, as small modules without libtorch or OpenCV:
# DFKRecords, DFKCore, DFKDatasets, and the weight-file parsers of DFKTensor (WeightLayout.swift, Pickle.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/fuzz
TARGETS=(${FUZZ_TARGETS:-records pth safetensors datasets})   # FUZZ_TARGETS="pth ..." for some
SWIFTC=${SWIFTC:-swiftc}
SAN=${FUZZ_SANITIZE:-fuzzer}
FLAGS=(-O -sanitize="$SAN" -parse-as-library -enable-testing -I "$B" -L "$B" -swift-version 5 -suppress-warnings
       -Xcc -D_GNU_SOURCE=1 -Xcc -fmodule-map-file=.build/checkouts/ZIPFoundation/Sources/CZLib/module.modulemap)

module() {  # name sources...
    local name=$1; shift
    local newest; newest=$(ls -t "$@" | head -1)
    if [[ -f $B/lib$name.a && $B/lib$name.a -nt $newest && $B/lib$name.a -nt Fuzz/fuzz.sh ]]; then return; fi
    "$SWIFTC" "${FLAGS[@]}" -module-name "$name" -emit-module -emit-module-path "$B/$name.swiftmodule" \
        -emit-library -static -o "$B/lib$name.a" "$@"
}

build() {
    mkdir -p "$B"
    local zip=.build/checkouts/ZIPFoundation/Sources/ZIPFoundation
    [[ -d $zip ]] || { echo "fuzz: $zip missing (run swift build first: it fetches the dependencies)" >&2; exit 1; }
    module DFKRecords Sources/DFKRecords/*.swift
    module DFKCore Sources/DFKCore/*.swift
    module DFKDatasets Sources/DFKDatasets/*.swift
    module ZIPFoundation "$zip"/*.swift
    module DFKTensor Sources/DFKTensor/WeightLayout.swift Sources/DFKTensor/Pickle.swift Sources/DFKTensor/TensorError.swift
    for t in "${TARGETS[@]}"; do
        local exe=$B/fuzz-$t
        if [[ -x $exe && $exe -nt Fuzz/Targets/$t.swift && $exe -nt Fuzz/Targets/Support.swift && -z $(find "$B" -name 'lib*.a' -newer "$exe") ]]; then continue; fi
        "$SWIFTC" "${FLAGS[@]}" -module-name "fuzz_$t" Fuzz/Targets/$t.swift Fuzz/Targets/Support.swift \
            -lDFKDatasets -lDFKTensor -lZIPFoundation -lDFKRecords -lDFKCore -lz -o "$exe"
    done
}

# Binary seeds (.npy arrays, PyTorch weight files) are made here, not kept in git: Fuzz/make_seeds.py with the
# parity venv's PyTorch (`make setup` installs it).
seeds() {
    [[ -f $B/seeds/.complete ]] && return
    local py=.cache/parity-venv/bin/python
    [[ -x $py ]] || { echo "fuzz: $py missing (run make setup): it makes the binary seed inputs" >&2; exit 1; }
    rm -rf "$B/seeds" && "$py" Fuzz/make_seeds.py "$B/seeds" && touch "$B/seeds/.complete"
}

run() {  # seconds per target
    local secs=$1 failed=0
    seeds
    for t in "${TARGETS[@]}"; do
        mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "$B/seeds/$t" "Fuzz/corpus/$t"
        echo "fuzz: $t for ${secs}s" >&2
        # Bounded: 10 s per input (a hang is a failure), 2 GB of memory (an unbounded allocation is a failure),
        # inputs up to 64 KiB. New inputs go to the first corpus directory, never into the repository.
        # SWIFT_BACKTRACE=enable=no: libFuzzer, not Swift's backtracer, handles a trap, so the input is saved.
        if ! SWIFT_BACKTRACE=enable=no "$B/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 \
                -print_final_stats=1 -artifact_prefix="$B/artifacts/$t/" "$B/corpus/$t" "Fuzz/corpus/$t" "$B/seeds/$t" \
                > "$B/$t.log" 2>&1; then
            echo "fuzz: $t FAILED (log: $B/$t.log, input: $(ls -t "$B/artifacts/$t" | head -1))" >&2
            tail -30 "$B/$t.log" >&2
            failed=1
        else
            grep -E "stat::number_of_executed_units|stat::new_units_added" "$B/$t.log" | tr '\n' ' ' | sed "s/^/fuzz: $t: /" >&2; echo >&2
        fi
    done
    return $failed
}

merge() {
    for t in "${TARGETS[@]}"; do
        mkdir -p "$B/merged/$t"
        "$B/fuzz-$t" -merge=1 -max_len=65536 "$B/merged/$t" "Fuzz/corpus/$t" "$B/corpus/$t" > "$B/$t.merge.log" 2>&1
        rm -rf "Fuzz/corpus/$t"; mv "$B/merged/$t" "Fuzz/corpus/$t"
    done
    du -sh Fuzz/corpus
}

case ${1:-} in
    build) build ;;
    run) build; run "${2:-600}" ;;
    merge) build; merge ;;
    *) sed -n 2,7p "$0"; exit 64 ;;
esac
