/** Resolves on the first SIGINT or SIGTERM: how a long-running command learns it should stop. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
}
