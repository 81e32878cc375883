/** Resolves on the first SIGINT or SIGTERM: how a long-running command learns it should stop. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
}

/**
 * Resolves on the first SIGINT, SIGTERM or SIGHUP (its terminal closed), and keeps catching all three
 * afterwards: a command that cleans up after itself must not die half-way through because of a second
 * Ctrl-C, or because npm exited at the first one and the terminal closed behind it.
 */
export function untilStopOrHangup(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => resolve(signal));
  });
}
