import net from 'node:net';

/**
 * Accepts connections on `listen` (a TCP port or a Unix socket path) and joins each to a new
 * connection to `target`. A Unix socket is a file, so it crosses network namespaces: this is how a
 * simulated host reaches the API server, and how a test reaches the host's own loopback.
 */
export async function bridge(
  listen: { port: number; host: string } | { path: string },
  target: net.NetConnectOpts,
): Promise<net.Server> {
  const server = net.createServer((incoming) => {
    const outgoing = net.connect(target);
    const close = () => {
      incoming.destroy();
      outgoing.destroy();
    };
    incoming.on('error', close).on('close', close);
    outgoing.on('error', close).on('close', close);
    incoming.pipe(outgoing).pipe(incoming);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen, () => resolve());
  });
  return server;
}
