#!/usr/bin/env bash
# Builds Locus' parsers with libFuzzer and AddressSanitizer and fuzzes each for a bounded time.
#
#   Benchmarks/fuzz/run.sh [SECONDS] [HARNESS...]     (default: 60 seconds each, every harness)
#
# Harnesses: gguf safetensors hfconfig tokenizer request dataset notebook. Each is
# harnesses/<name>.swift with @_cdecl("LLVMFuzzerTestOneInput"), seeded from seeds/<name>/.
# The package's modules are compiled here directly with swiftc (-sanitize=fuzzer,address,
# -enable-testing), independently of `swift build` and of the locus binary; only the modules a
# harness needs are built and linked. Outputs go to $FUZZ_BUILD (default .build-fuzz/ at the repo
# root); findings to $FUZZ_BUILD/<name>/ (crash-*, timeout-*, oom-*). Yams comes from the package's
# resolved checkout (`swift package resolve` is run if it is missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PATH=/opt/swift/usr/bin:$PATH
# A Swift trap is a crash for libFuzzer to record; the runtime's interactive backtracer would hold it up.
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS=suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
seconds=${1:-60}
shift || true
all=(gguf safetensors hfconfig tokenizer request dataset notebook)
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
out=${FUZZ_BUILD:-$repo/.build-fuzz}
mods=$out/modules
mkdir -p "$mods"
nice=(nice -n 10)
openblas=$(pkg-config --cflags-only-I openblas | sed 's/^-I//; s/ *$//')
yams=$repo/.build/checkouts/Yams/Sources
flags=(-sanitize=fuzzer,address -parse-as-library -O -enable-testing -g -I "$mods"
  -I "$repo/Sources/CBLAS" -Xcc -I"$openblas" -I "$yams/CYaml/include" -DSWIFT_PACKAGE)

# module NAME SOURCES... : one object and one .swiftmodule per module, rebuilt when a source is newer.
module() {
  local name=$1; shift
  local obj=$mods/$name.o
  if [ -f "$obj" ] && [ -z "$(find "$@" -newer "$obj" 2>/dev/null | head -1)" ]; then return; fi
  echo "build: $name" >&2
  "${nice[@]}" swiftc "${flags[@]}" -module-name "$name" -wmo -c "$@" -emit-module -emit-module-path "$mods/$name.swiftmodule" \
    -o "$obj" 2> >(grep -v warning: >&2 || true)
}

build_yams() {
  if [ ! -d "$yams" ]; then (cd "$repo" && swift package resolve >&2); fi
  local obj=$mods/CYaml.o
  if [ ! -f "$obj" ]; then
    echo "build: CYaml" >&2
    local objs=()
    for c in "$yams"/CYaml/src/*.c; do
      "${nice[@]}" clang -c -O1 -fsanitize=address,fuzzer-no-link -I "$yams/CYaml/include" "$c" -o "$mods/cyaml-$(basename "$c" .c).o"
      objs+=("$mods/cyaml-$(basename "$c" .c).o")
    done
    ld -r "${objs[@]}" -o "$obj"
  fi
  module Yams "$yams"/Yams/*.swift
}

src=$repo/Sources
# deps HARNESS: builds what it imports, prints the objects to link.
deps() {
  case $1 in
    gguf|safetensors)
      module Linalg "$src"/Linalg/*.swift; module Tensors "$src"/Tensors/*.swift; module ModelFormats "$src"/ModelFormats/*.swift
      echo "$mods/Linalg.o $mods/Tensors.o $mods/ModelFormats.o" ;;
    hfconfig|tokenizer)
      deps gguf >/dev/null; module Tokenization "$src"/Tokenization/*.swift
      module Models $(find "$src/Models" -name '*.swift' | sort)
      echo "$mods/Linalg.o $mods/Tensors.o $mods/ModelFormats.o $mods/Tokenization.o $mods/Models.o" ;;
    dataset)
      # Records.swift is the part of Datasets that needs no resource bundle.
      module Datasets "$src"/Datasets/Records.swift
      echo "$mods/Datasets.o" ;;
    request)
      # RequestFile and the two types it builds; the rest of Editing (the edit methods) is not needed to parse.
      deps dataset >/dev/null; build_yams
      module Editing "$src"/Editing/RequestFile.swift "$src"/Editing/EditRequest.swift "$src"/Editing/EditError.swift
      echo "$mods/Datasets.o $mods/CYaml.o $mods/Yams.o $mods/Editing.o" ;;
    notebook)
      module Notebooks "$src"/Notebooks/*.swift
      echo "$mods/Notebooks.o" ;;
    *) echo "unknown harness $1 (one of ${all[*]})" >&2; exit 2 ;;
  esac
}

for h in "${harnesses[@]}"; do
  objs=$(deps "$h")
  bin=$out/$h/fuzz-$h
  mkdir -p "$out/$h/corpus"
  if [ ! -f "$bin" ] || [ -n "$(find "$here/harnesses/$h.swift" $objs -newer "$bin" | head -1)" ]; then
    echo "build: fuzz-$h" >&2
    "${nice[@]}" swiftc "${flags[@]}" "$here/harnesses/$h.swift" $objs -lopenblas -llapacke -o "$bin" 2> >(grep -v -e warning: -e "^$" >&2 || true)
  fi
  echo "== $h: ${seconds}s" >&2
  # The corpus directory grows across runs; the committed seeds are read-only inputs.
  (cd "$out/$h" && "${nice[@]}" "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=5 \
    -print_final_stats=1 -artifact_prefix="$out/$h/" corpus "$here/seeds/$h" 2>&1 | tee "$out/$h/last-run.log" | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|Done [0-9]+ runs)" || true)
  if ls "$out/$h"/crash-* "$out/$h"/timeout-* "$out/$h"/oom-* "$out/$h"/leak-* >/dev/null 2>&1; then
    echo "findings in $out/$h:" >&2; ls "$out/$h" | grep -E '^(crash|timeout|oom|leak)-' >&2
  fi
done
