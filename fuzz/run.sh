#!/usr/bin/env bash
# Fuzzes each request parser for FUZZ_SECONDS (default 60) with libFuzzer, starting from the
# committed seeds in fuzz/seeds/<target>/, FUZZ_JOBS targets at a time (default: one per
# core). Any crash, timeout or out-of-memory fails the run; the input that caused it is kept
# in fuzz/artifacts/<target>/, and `cargo fuzz run <options below> <target> <file>` (with
# RUSTC_BOOTSTRAP=1) reproduces it.
#
# cargo-fuzz passes nightly-only flags to rustc (-Z..., the sancov passes); RUSTC_BOOTSTRAP=1
# lets the stable toolchain accept them. New inputs go to fuzz/corpus/<target>/ (ignored by
# git, like fuzz/artifacts/), so later local runs pick up where they stopped.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
parallel="${FUZZ_JOBS:-$(nproc)}"
targets=(authorization_request token_request client_authentication id_token_hint)
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi

# Release at opt-level 1 (Cargo.toml), several codegen units rather than cargo-fuzz's one, so
# that the build uses both cores. Debug assertions on: an integer overflow is a crash too.
# No AddressSanitizer: the code under test is safe Rust, and ASan makes the build and every
# run several times slower.
options=(--sanitizer none --debug-assertions --codegen-units 16)

start=$SECONDS
cargo fuzz build "${options[@]}"
echo "fuzz build: $((SECONDS - start)) s"

fuzz() {
  local target=$1
  mkdir -p "corpus/$target" target
  rm -f "target/$target.failed"
  if cargo fuzz run "${options[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    >"target/$target.log" 2>&1; then
    echo "$target: $(grep -m1 '^Done' "target/$target.log")"
  else
    tail -n 60 "target/$target.log"
    echo "$target: CRASH (input in fuzz/artifacts/$target/)"
    touch "target/$target.failed"
  fi
}

for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do
    wait -n || true
  done
  fuzz "$target" &
done
wait

failed=()
for target in "${targets[@]}"; do
  if [[ -e "target/$target.failed" ]]; then
    failed+=("$target")
  fi
done
if ((${#failed[@]})); then
  echo "fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing: no crash in ${#targets[@]} targets, ${seconds} s each; total $((SECONDS - start)) s"
