import type { SeerNode } from '../api/types.js';

/** The address clients reach a node's agent at: its internal IP, else its external IP, else its hostname. */
export function nodeAddress(node: SeerNode): string | undefined {
  const addresses = node.status?.addresses ?? [];
  return (
    addresses.find((a) => a.type === 'InternalIP') ??
    addresses.find((a) => a.type === 'ExternalIP') ??
    addresses.find((a) => a.type === 'Hostname')
  )?.address;
}
