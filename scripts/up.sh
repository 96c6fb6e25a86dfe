#!/usr/bin/env bash
# README command 1: install what is missing, build, create a local chain in
# ./chain (once) and start its nodes in the background.
#   NODES=1 ./scripts/up.sh     (default: 4 validators agreeing by PBFT over TLS)
#   ./scripts/up.sh --reset     (throw the old chain away first)
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-4}
CHAIN_DIR=${CHAIN_DIR:-chain}

./scripts/install.sh
./scripts/build.sh

if [[ ${1:-} == --reset && -d $CHAIN_DIR ]]; then
  build/tally chain stop "$CHAIN_DIR" || true
  rm -rf "$CHAIN_DIR"
fi
if [[ ! -f $CHAIN_DIR/genesis.json ]]; then
  build/tally chain init --nodes "$NODES" --dir "$CHAIN_DIR"
fi
build/tally chain start "$CHAIN_DIR"
cat <<MSG

Tally is running. Explorer: http://127.0.0.1:8545/  (any node's port). Try:
  build/tally status $CHAIN_DIR --watch
  build/tally balance \$(jq -r '.[0].address' $CHAIN_DIR/accounts.json)
  build/tally send --key \$(jq -r '.[0].private_key' $CHAIN_DIR/accounts.json) \\
      --to \$(jq -r '.[1].address' $CHAIN_DIR/accounts.json) --value 1ether --wait
  build/tally bench --dir $CHAIN_DIR --duration 20
Development accounts (with private keys): $CHAIN_DIR/accounts.json
Logs: $CHAIN_DIR/node*/node.log      Stop: build/tally chain stop $CHAIN_DIR
MSG
