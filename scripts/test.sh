#!/usr/bin/env bash
# README command 2: install, build, and run every test:
#   1. formatting (clang-format, .clang-format)
#   2. unit tests and the deterministic PBFT simulator (ctest -L unit, -L sim)
#   3. both again under AddressSanitizer + UndefinedBehaviorSanitizer
#   4. EVM conformance: `tally evm-test` over ethereum-tests' BlockchainTests
#      (../shared/ethereum-tests; the interpreter on an in-memory world)
#   5. end-to-end tests against real nodes (node --test tests/e2e, ethers.js;
#      the explorer in headless Chromium, screenshots in build/artifacts/)
#   6. cluster tests: 4 nodes agreeing by PBFT over TLS, crashes, sync
#      (node --test tests/cluster; the network-namespace variant skips with a
#      message where namespaces are not allowed)
# Prints one summary line "N passed, N failed" at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh --tests || exit 1

passed=0
failed=0
failures=()
step() { # name command...
  local name=$1
  shift
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

check_format() {
  local bad
  bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c 'warning:' || true)
  if [[ $bad != 0 ]]; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep 'warning:' | cut -d: -f1 | sort -u
    echo "clang-format: the files above need 'clang-format -i'"
    return 1
  fi
}

build_asan() {
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTALLY_SANITIZE=ON >/dev/null &&
    cmake --build build-asan -j"$(nproc)"
}

step "format" check_format
step "build" ./scripts/build.sh
step "unit tests" ctest --test-dir build --output-on-failure -L unit
step "PBFT simulator" ctest --test-dir build --output-on-failure -L sim
step "build (ASan+UBSan)" build_asan
step "unit tests (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -L unit
step "PBFT simulator (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -L sim
step "EVM conformance (ethereum-tests BlockchainTests)" \
  build/tally evm-test ../shared/ethereum-tests/BlockchainTests/GeneralStateTests
step "end-to-end tests" env TALLY_BIN="$PWD/build/tally" node --test --test-concurrency=1 tests/e2e/
step "cluster tests" env TALLY_BIN="$PWD/build/tally" node --test --test-concurrency=1 tests/cluster/

echo
if ((failed)); then
  echo "failed steps: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
