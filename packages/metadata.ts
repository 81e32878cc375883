import yaml from 'js-yaml';
import type { Container, ContainerCommands, ContainerPort } from '../api/types.js';

/** The file at the root of a package that carries its defaults. */
export const METADATA_FILE = 'seer-package.yaml';

/**
 * The container fields a seer-package.yaml may set, with the API's own types: a package gives
 * defaults for these and nothing else (name, package, env, probes … belong to the pod spec alone).
 */
export type PackageContainerFields = Pick<Container, 'commands' | 'mode' | 'pid_file' | 'ports'>;

/** Defaults a package carries for the containers that run it; the pod spec overrides them. */
export type PackageMetadata = Partial<PackageContainerFields>;

const COMMAND_NAMES: readonly (keyof ContainerCommands)[] = [
  'start',
  'stop',
  'reload',
  'restart',
  'pre_start',
  'post_start',
  'pre_stop',
];
const TOP_LEVEL_FIELDS: readonly (keyof PackageMetadata)[] = ['commands', 'mode', 'pid_file', 'ports'];
const PORT_FIELDS: readonly (keyof ContainerPort)[] = ['name', 'container_port', 'protocol'];
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// The same bounds as the SeerPod schema, so a package default is never something a pod could not say.
const MAX_COMMAND_LENGTH = 4096;
const MAX_PID_FILE_LENGTH = 1024;
const MAX_PORTS = 16;

class MetadataError extends Error {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuseUnknownFields(value: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new MetadataError(`${where}unknown field "${key}" (expected one of ${known.join(', ')})`);
    }
  }
}

/**
 * Parses and validates seer-package.yaml. Unknown fields are errors rather than ignored, so a typo
 * ("comands") is reported instead of silently losing the default. Throws an Error whose message
 * starts with `source`.
 */
export function parsePackageMetadata(text: string, source: string = METADATA_FILE): PackageMetadata {
  try {
    return validate(text);
  } catch (error) {
    if (error instanceof MetadataError) throw new Error(`${source}: ${error.message}`);
    if (error instanceof yaml.YAMLException) {
      throw new Error(`${source}: not valid YAML: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function validate(text: string): PackageMetadata {
  // CORE_SCHEMA: plain strings, numbers, booleans, null; no dates or other surprising types.
  const document: unknown = yaml.load(text, { schema: yaml.CORE_SCHEMA });
  if (document === undefined || document === null) return {};
  if (!isRecord(document)) throw new MetadataError('must be a mapping of commands, mode, pid_file and ports');
  refuseUnknownFields(document, TOP_LEVEL_FIELDS, '');

  const metadata: PackageMetadata = {};
  if (document.commands !== undefined) metadata.commands = validateCommands(document.commands);
  if (document.mode !== undefined) {
    if (document.mode !== 'foreground' && document.mode !== 'forking') {
      throw new MetadataError(`mode must be foreground or forking, not ${JSON.stringify(document.mode)}`);
    }
    metadata.mode = document.mode;
  }
  if (document.pid_file !== undefined) {
    const pidFile = document.pid_file;
    if (typeof pidFile !== 'string' || pidFile.trim() === '' || pidFile.length > MAX_PID_FILE_LENGTH) {
      throw new MetadataError(
        `pid_file must be a non-empty path of at most ${MAX_PID_FILE_LENGTH} characters`,
      );
    }
    metadata.pid_file = pidFile;
  }
  if (document.ports !== undefined) metadata.ports = validatePorts(document.ports);
  return metadata;
}

function validateCommands(value: unknown): ContainerCommands {
  if (!isRecord(value)) throw new MetadataError(`commands must be a mapping of ${COMMAND_NAMES.join(', ')}`);
  refuseUnknownFields(value, COMMAND_NAMES, 'commands: ');
  const commands: ContainerCommands = {};
  for (const name of COMMAND_NAMES) {
    const command = value[name];
    if (command === undefined) continue;
    if (typeof command !== 'string' || command.trim() === '') {
      throw new MetadataError(`commands.${name} must be a non-empty command line`);
    }
    if (command.length > MAX_COMMAND_LENGTH) {
      throw new MetadataError(`commands.${name} is longer than ${MAX_COMMAND_LENGTH} characters`);
    }
    commands[name] = command;
  }
  return commands;
}

function validatePorts(value: unknown): ContainerPort[] {
  if (!Array.isArray(value)) throw new MetadataError('ports must be a list');
  if (value.length > MAX_PORTS) throw new MetadataError(`at most ${MAX_PORTS} ports`);
  const ports: ContainerPort[] = [];
  value.forEach((item: unknown, index) => {
    const where = `ports[${index}]`;
    if (!isRecord(item))
      throw new MetadataError(`${where} must be a mapping of name, container_port, protocol`);
    refuseUnknownFields(item, PORT_FIELDS, `${where}: `);
    const { name, container_port: containerPort, protocol } = item;
    if (typeof name !== 'string' || name.length > 15 || !PORT_NAME.test(name)) {
      throw new MetadataError(
        `${where}.name must be 1-15 lowercase letters, digits and '-', starting and ending with a letter or digit`,
      );
    }
    if (
      typeof containerPort !== 'number' ||
      !Number.isInteger(containerPort) ||
      containerPort < 1 ||
      containerPort > 65535
    ) {
      throw new MetadataError(`${where}.container_port must be an integer from 1 to 65535`);
    }
    if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp') {
      throw new MetadataError(`${where}.protocol must be tcp or udp, not ${JSON.stringify(protocol)}`);
    }
    if (ports.some((port) => port.name === name))
      throw new MetadataError(`${where}: port name "${name}" is used twice`);
    const port: ContainerPort = { name, container_port: containerPort };
    if (protocol !== undefined) port.protocol = protocol;
    const clash = ports.find(
      (other) => other.container_port === containerPort && (other.protocol ?? 'tcp') === (protocol ?? 'tcp'),
    );
    if (clash) {
      throw new MetadataError(
        `${where}: port ${containerPort}/${protocol ?? 'tcp'} is already "${clash.name}"`,
      );
    }
    ports.push(port);
  });
  return ports;
}

/**
 * The container's effective fields: each field the pod spec sets wins, the package fills the rest.
 * Commands merge command by command; ports merge by name (a spec port replaces the package's port of
 * the same name field by field; spec ports come first, then the package's other ports).
 */
export function applyPackageDefaults<C extends PackageContainerFields>(
  container: C,
  metadata: PackageMetadata | undefined,
): C {
  if (!metadata) return container;
  const effective: C = { ...container };

  const commands: ContainerCommands = { ...metadata.commands };
  for (const name of COMMAND_NAMES) {
    const command = container.commands?.[name];
    if (command !== undefined) commands[name] = command;
  }
  if (Object.keys(commands).length > 0) effective.commands = commands;

  const mode = container.mode ?? metadata.mode;
  if (mode !== undefined) effective.mode = mode;
  const pidFile = container.pid_file ?? metadata.pid_file;
  if (pidFile !== undefined) effective.pid_file = pidFile;

  if (metadata.ports?.length) {
    const specPorts = container.ports ?? [];
    const merged: ContainerPort[] = specPorts.map((port) => {
      const packagePort = metadata.ports?.find((candidate) => candidate.name === port.name);
      return packagePort ? mergePort(packagePort, port) : { ...port };
    });
    for (const packagePort of metadata.ports) {
      if (!specPorts.some((port) => port.name === packagePort.name)) merged.push({ ...packagePort });
    }
    effective.ports = merged;
  }
  return effective;
}

function mergePort(packagePort: ContainerPort, specPort: ContainerPort): ContainerPort {
  const merged: ContainerPort = { ...packagePort };
  for (const [key, value] of Object.entries(specPort)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  return merged;
}
