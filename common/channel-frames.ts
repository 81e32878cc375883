/**
 * Kubernetes' remote command protocol over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`), as
 * kubelet speaks it: each binary message is one channel byte followed by that channel's data.
 */
export const PROTOCOL_V4 = 'v4.channel.k8s.io';
/** v4 plus a close message (channel 255, then the channel closed): how a client ends stdin. */
export const PROTOCOL_V5 = 'v5.channel.k8s.io';
/** The subprotocols the endpoint speaks, the one it prefers first. */
export const PROTOCOLS = [PROTOCOL_V5, PROTOCOL_V4];

export const Channel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** The end of the command: a Status, JSON. */
  status: 3,
  /** Terminal size, `{"Width":W,"Height":H}`. */
  resize: 4,
  /** v5: the channel named by the next byte is closed. */
  close: 255,
} as const;

export interface Frame {
  channel: number;
  data: Buffer;
}

export function encodeFrame(channel: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([Buffer.of(channel), body]);
}

export class BadFrame extends Error {}

/** A received message as its channel and data; an empty message has no channel. */
export function decodeFrame(message: Buffer): Frame {
  if (message.length === 0) throw new BadFrame('an empty message carries no channel');
  return { channel: message[0] ?? 0, data: message.subarray(1) };
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** The resize channel's `{"Width":W,"Height":H}`; both whole numbers from 1 to 65535. */
export function parseResize(data: Buffer): TerminalSize {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    throw new BadFrame(
      `a resize is JSON {"Width":W,"Height":H}, not ${JSON.stringify(data.toString('utf8'))}`,
    );
  }
  const { Width: cols, Height: rows } = (value ?? {}) as { Width?: unknown; Height?: unknown };
  const valid = (n: unknown): n is number =>
    Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
  if (!valid(cols) || !valid(rows))
    throw new BadFrame(`a resize needs Width and Height from 1 to 65535, not ${data.toString('utf8')}`);
  return { cols, rows };
}

export function encodeResize(size: TerminalSize): Buffer {
  return encodeFrame(Channel.resize, JSON.stringify({ Width: size.cols, Height: size.rows }));
}

/** A metav1.Status, as kubelet sends on the status channel. */
export interface Status {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason: string; message: string }[] };
}

/** The Status kubelet sends when the command ends with `exitCode`. */
export function exitStatus(exitCode: number, argv: string[]): Status {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${JSON.stringify(argv)} exited with ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** A failure that is not the command's exit code (it could not be run). */
export function failureStatus(message: string): Status {
  return { metadata: {}, status: 'Failure', message };
}

/** The exit code a Status reports: 0 on Success, the ExitCode cause, else undefined (another failure). */
export function statusExitCode(status: Status): number | undefined {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && cause && /^\d+$/.test(cause.message))
    return Number(cause.message);
  return undefined;
}

/** A status channel's data as a Status. */
export function parseStatus(data: Buffer): Status {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    throw new BadFrame(`the status channel carried ${JSON.stringify(data.toString('utf8'))}, not JSON`);
  }
  const status = value as Partial<Status> | null;
  if (!status || (status.status !== 'Success' && status.status !== 'Failure'))
    throw new BadFrame(`the status channel carried no Success or Failure: ${data.toString('utf8')}`);
  return status as Status;
}
