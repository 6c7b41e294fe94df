#!/usr/bin/env bash
# One job: a short fuzzing run of every target in fuzz/ (cargo-fuzz, libFuzzer with
# AddressSanitizer). Installs cargo-fuzz if missing, checks fuzz/'s formatting, builds
# the targets, then runs each one (`cargo fuzz list`) for FUZZ_SECS from its committed
# seeds (fuzz/seeds/TARGET) and its grown corpus (fuzz/corpus/TARGET, git-ignored).
# Fails on a crash, a leak, a time-out or a target that ran nothing; a crashing input
# is left in fuzz/artifacts/TARGET.
#
# Run from anywhere: `bash .ci/fuzz.sh`. The stable toolchain will do: RUSTC_BOOTSTRAP=1
# lets it take the sanitizer flags cargo-fuzz passes.
# Knobs (environment):
#   FUZZ_SECS=20   seconds per target
LOG_PREFIX=fuzz
. "$(dirname "$0")/../.ci/lib.sh"

FUZZ_SECS=${FUZZ_SECS:-20}
[ "$FUZZ_SECS" -gt 0 ] || fail "FUZZ_SECS must be at least 1"

if ! command -v cargo-fuzz >/dev/null; then
  log "installing cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz
fi
cargo fmt --manifest-path fuzz/Cargo.toml -- --check || fail "fuzz/ is not formatted: run cargo fmt --manifest-path fuzz/Cargo.toml"

export RUSTC_BOOTSTRAP=1
work_dir
log "building the targets"
cargo fuzz build >"$WORK/build.log" 2>&1 || {
  tail -40 "$WORK/build.log" >&2
  fail "cargo fuzz build"
}
mapfile -t targets < <(cargo fuzz list)
[ "${#targets[@]}" -gt 0 ] || fail "cargo fuzz list found no targets"

for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  dirs=("fuzz/corpus/$target")
  [ -d "fuzz/seeds/$target" ] && dirs+=("fuzz/seeds/$target")
  # libFuzzer stops itself after -max_total_time; `timeout` is a second bound.
  timeout $((FUZZ_SECS + 120)) cargo fuzz run "$target" "${dirs[@]}" -- \
    -max_total_time="$FUZZ_SECS" -print_final_stats=1 >"$WORK/$target.log" 2>&1 || {
    tail -40 "$WORK/$target.log" >&2
    fail "fuzz target $target failed (a crash is saved in fuzz/artifacts/$target)"
  }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$target.log")
  [ "${runs:-0}" -gt 0 ] || fail "fuzz target $target executed nothing: $(tail -20 "$WORK/$target.log")"
  log "$target: $runs executions in ${FUZZ_SECS}s, no crash"
done
log "pass: ${#targets[@]} targets"
