#!/usr/bin/env bash
# Sequential editing, one method after another, on the same CounterFact records (issue 18's table):
#   bash Benchmarks/sequential-editors.sh RECORDS METHOD... 
# Each run is `locus eval counterfact --sequential --perplexity` with batch 1, resumable (its progress in
# ~/.cache/locus/runs/sequential-RECORDS-METHOD; run the same command again to go on), and writes its JSON
# report to Benchmarks/results/<date>-sequential-RECORDS-METHOD.json. Needs `swift build -c release` first.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:?usage: sequential-editors.sh RECORDS METHOD...}
shift
[ $# -gt 0 ] || set -- rome r-rome memit emmet alphaedit ft-l ft-m lora ultraedit
every=$(( records >= 10000 ? 1000 : (records >= 10 ? records / 10 : 1) ))
for m in "$@"; do
  out="Benchmarks/results/$(date +%F)-sequential-$records-$m.json"
  echo "[sequential] $m: $records records → $out" >&2
  .build/release/locus eval counterfact --model smollm2 --method "$m" --records "$records" --sequential --perplexity \
    --checkpoint-every "$every" --resume "$HOME/.cache/locus/runs/sequential-$records-$m" --json > "$out.tmp"
  mv "$out.tmp" "$out"
done
