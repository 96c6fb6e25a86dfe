// The endpoint an end-to-end test talks to: by default a fresh 1-node Tally
// chain (startChain), or, when $TALLY_E2E_RPC is set, any Ethereum JSON-RPC
// endpoint, so that the same test can be checked against a reference node:
//
//   TALLY_E2E_RPC    http(s) URL of the endpoint, e.g. http://127.0.0.1:8545
//   TALLY_E2E_WS     its WebSocket URL (default: TALLY_E2E_RPC with http -> ws)
//   TALLY_E2E_KEYS   comma-separated private keys of funded accounts
//
//   const t = await openTarget();   // { name, url, wsUrl, keys, chain, stop }
import { startChain } from './chain.mjs';

/** Open the target. options.initArgs: extra `tally chain init` arguments
 * (ignored for an external endpoint). keys are the funded accounts' private
 * keys; on Tally every development account except the issuer, whose value
 * transfers mint instead of spending. chain is startChain's object, or null
 * for an external endpoint. */
export async function openTarget({ initArgs = [] } = {}) {
  const url = process.env.TALLY_E2E_RPC;
  if (url) {
    const keys = (process.env.TALLY_E2E_KEYS ?? '').split(',').map((k) => k.trim())
      .filter(Boolean);
    return {
      name: `external endpoint ${url}`,
      url,
      wsUrl: process.env.TALLY_E2E_WS || url.replace(/^http/, 'ws'),
      keys,
      chain: null,
      stop: async () => {},
    };
  }
  const chain = await startChain({ initArgs });
  return {
    name: `tally chain ${chain.dir}`,
    url: chain.url,
    wsUrl: chain.wsUrl,
    keys: chain.accounts.filter((a) => !a.issuer).map((a) => a.private_key),
    chain,
    stop: () => chain.stop(),
  };
}
