import os from 'node:os';

/** What this host is, as published in its SeerNode status. */
export interface HostFacts {
  hostname: string;
  os: string;
  arch: string;
  kernel_version: string;
  cpu: string;
  memory: string;
  addresses: { type: 'Hostname' | 'InternalIP'; address: string }[];
}

/** Non-loopback IPv4 addresses, the ones another host could reach. */
function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && i.family === 'IPv4' && !i.internal)
    .map((i) => i.address);
}

export function hostFacts(configuredAddresses: string[]): HostFacts {
  const hostname = os.hostname();
  const addresses = configuredAddresses.length > 0 ? configuredAddresses : hostAddresses();
  return {
    hostname,
    os: os.platform(),
    arch: os.arch(),
    kernel_version: os.release(),
    cpu: String(os.availableParallelism()),
    // Kibibytes, as Kubernetes quantities usually show memory.
    memory: `${Math.floor(os.totalmem() / 1024)}Ki`,
    addresses: [
      ...addresses.map((address) => ({ type: 'InternalIP' as const, address })),
      { type: 'Hostname' as const, address: hostname },
    ],
  };
}
