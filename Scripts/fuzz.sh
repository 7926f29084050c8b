#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for N seconds (default 120) from the seed corpus.
#
#   Scripts/fuzz.sh [SECONDS] [TARGET...]      TARGET: envelope, resp (default: both)
#
# The targets are not SwiftPM products (a libFuzzer binary has no main of its own, which would
# break `swift build`): each is one module compiled with swiftc -sanitize=fuzzer,address from
# its harness in Fuzz/<Target>/ and the few Spool sources it exercises:
#   envelope: JobEnvelope.decode(fields:) and encodeFields (Sources/Spool/Envelope, Errors,
#             Support/ThreadSlot.swift)
#   resp:     hiredis's reader with Spool's reply builder, against hiredis's own reply tree (Sources/SpoolRedis/RESP)
# Seeds: Fuzz/Corpus/<target>/ (read only); the growing corpus and any crash go to
# .build/fuzz/. Prints libFuzzer's final stats (executions, coverage) for each target and
# exits non-zero if a target crashed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_EACH="${1:-120}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(envelope resp); fi

out=.build/fuzz
mkdir -p "$out/src"
flags=(-sanitize=fuzzer,address -parse-as-library -g -O -swift-version 6 -package-name spool)

build() {
    local target="$1"
    case "$target" in
    envelope)
        # One module: `import SpoolRedis` goes (RedisCommand and RedisScript come in as sources).
        rm -rf "$out/src/envelope" && mkdir -p "$out/src/envelope"
        for file in Sources/Spool/Envelope/*.swift Sources/Spool/Errors/SpoolError.swift \
            Sources/Spool/Errors/SpoolError+Text.swift Sources/Spool/Errors/NonRetryableError.swift \
            Sources/SpoolRedis/RESP/RedisCommand.swift Sources/SpoolRedis/Scripts/RedisScript.swift \
            Sources/SpoolRedis/Scripts/SHA1.swift Sources/Spool/Support/ThreadSlot.swift; do
            sed '/^import SpoolRedis$/d' "$file" >"$out/src/envelope/$(basename "$file")"
        done
        swiftc "${flags[@]}" -module-name EnvelopeFuzz -o "$out/fuzz-envelope" \
            Fuzz/Envelope/*.swift "$out"/src/envelope/*.swift
        ;;
    resp)
        swiftc "${flags[@]}" -module-name RESPFuzz -I Sources/CHiredis -o "$out/fuzz-resp" \
            Fuzz/RESP/*.swift Sources/SpoolRedis/RESP/RESPValue.swift Sources/SpoolRedis/RESP/ReplyBuilder.swift
        ;;
    *) echo "unknown fuzz target $target (envelope, resp)" >&2; exit 64 ;;
    esac
}

status=0
for target in "${targets[@]}"; do
    printf '==> building fuzz-%s\n' "$target"
    # (ld.gold warns about every ASan helper symbol; show the output only when the build fails)
    if ! build "$target" >"$out/build-$target.log" 2>&1; then
        grep -v "ld.gold: warning" "$out/build-$target.log" >&2
        exit 1
    fi
    mkdir -p "$out/corpus-$target" "$out/artifacts-$target"
    printf '==> fuzz-%s for %ss\n' "$target" "$SECONDS_EACH"
    if ! "$out/fuzz-$target" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -max_len=4096 \
        -artifact_prefix="$out/artifacts-$target/" "$out/corpus-$target" "Fuzz/Corpus/$target" \
        >"$out/fuzz-$target.log" 2>&1; then
        status=1
        echo "!! fuzz-$target failed; see $out/fuzz-$target.log and $out/artifacts-$target/" >&2
    fi
    grep -E 'INITED|DONE|stat::number_of_executed_units|stat::average_exec_per_sec|Done [0-9]+ runs|ERROR|SUMMARY' "$out/fuzz-$target.log" || true
done
exit "$status"
