import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import type { SeerNode } from '../../api/types.js';
import { SeerClient } from '../../kube/seer-client.js';
import { UsageError } from '../command.js';
import { clientFor } from '../kubeconfig.js';
import { nodeAddress } from '../node-address.js';

export const TARGETS_USAGE = `usage: seer node targets [-o json|yaml] [--ca-file FILE] [--kubeconfig FILE]
  print the agents' metrics endpoints as a Prometheus file_sd document;
  --ca-file writes the certificates that verify them, for tls_config.ca_file`;

/** One entry of a Prometheus file_sd document. */
export interface ScrapeTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export interface ScrapeTargets {
  groups: ScrapeTargetGroup[];
  /** The certificates that verify the endpoints listed, each once, as one PEM bundle. */
  caBundle: string;
  /** Why each node left out was, to tell the user. */
  skipped: string[];
}

/** host:port, with an IPv6 address bracketed. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The endpoints of the nodes that publish one, sorted by node name. */
export function scrapeTargets(nodes: SeerNode[]): ScrapeTargets {
  const result: ScrapeTargets = { groups: [], caBundle: '', skipped: [] };
  const certificates = new Set<string>();
  const sorted = [...nodes].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const node of sorted) {
    const name = node.metadata.name ?? '';
    const endpoint = node.status?.endpoint;
    const host = nodeAddress(node);
    if (!endpoint) {
      result.skipped.push(
        `node ${name} publishes no endpoint (its agent runs with --no-endpoint or is older)`,
      );
      continue;
    }
    if (!host) {
      result.skipped.push(`node ${name} publishes no address`);
      continue;
    }
    result.groups.push({ targets: [hostPort(host, endpoint.port)], labels: { seer_node: name } });
    for (const pem of endpoint.ca_certificates.match(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
    ) ?? [])
      certificates.add(pem);
  }
  result.caBundle = [...certificates].map((pem) => `${pem}\n`).join('');
  return result;
}

export async function runNodeTargets(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'json' },
      'ca-file': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0 || (values.output !== 'json' && values.output !== 'yaml'))
    throw new UsageError(TARGETS_USAGE);
  const connection = clientFor(values.kubeconfig);
  let nodes: SeerNode[];
  try {
    nodes = (await new SeerClient(connection).list('SeerNode')).items;
  } finally {
    connection.close();
  }
  const targets = scrapeTargets(nodes);
  for (const note of targets.skipped) console.error(`skipped: ${note}`);
  if (values['ca-file']) {
    await writeFile(values['ca-file'], targets.caBundle);
    console.error(`the endpoints' CA certificates written to ${values['ca-file']}`);
  }
  process.stdout.write(
    values.output === 'yaml' ? yaml.dump(targets.groups) : `${JSON.stringify(targets.groups, null, 2)}\n`,
  );
}
