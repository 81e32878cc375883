interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * Runs one piece of work per key however many callers ask for it at the same time; they all get its
 * result. A caller's signal only abandons that caller's wait: the work is aborted (through the signal
 * it was given) only when every caller waiting for it has gone.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /** How many distinct pieces of work are running (for tests and metrics). */
  get size(): number {
    return this.flights.size;
  }

  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let flight = this.flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const started: Flight<T> = {
        promise: Promise.resolve().then(() => work(controller.signal)),
        controller,
        waiters: 0,
      };
      started.promise
        .finally(() => {
          if (this.flights.get(key) === started) this.flights.delete(key);
        })
        // Every waiter gets the rejection through its own promise; this one only keeps a flight that
        // all waiters abandoned from becoming an unhandled rejection.
        .catch(() => undefined);
      this.flights.set(key, started);
      flight = started;
    }
    return this.wait(key, flight, signal);
  }

  private wait(key: string, flight: Flight<T>, signal?: AbortSignal): Promise<T> {
    flight.waiters += 1;
    if (!signal) return flight.promise;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        flight.waiters -= 1;
        if (flight.waiters === 0) {
          // Nobody wants it any more: stop it, and let the next caller start afresh.
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }
}
