#!/usr/bin/env node
// A tiny web server for trying Seer. It listens on its node's address and the port named `http`,
// answers every request with the pod and node it runs as, logs a line every few seconds, and exits
// cleanly on SIGTERM, which is how the agent asks a foreground program to stop.
// `hello.mjs --check` is its readiness check: it asks the server and exits 0 when it answers.
import http from 'node:http';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';

const pod = process.env.SEER_POD_NAME || 'hello';
const node = process.env.SEER_NODE_NAME || 'localhost';
const host = process.env.SEER_NODE_IP || '127.0.0.1';
const port = Number(process.env.SEER_PORT_HTTP || 8480);
const intervalMs = Number(process.env.HELLO_INTERVAL || 5) * 1000;
const log = (line) => process.stdout.write(`${line}\n`);

if (process.argv[2] === '--check') {
  const request = http.get({ host, port, path: '/', timeout: 2000 }, (response) => {
    response.resume();
    process.exit(response.statusCode === 200 ? 0 : 1);
  });
  request.on('timeout', () => request.destroy(new Error('timed out')));
  request.on('error', (error) => {
    process.stderr.write(`http://${host}:${port}/: ${error.message}\n`);
    process.exit(1);
  });
} else {
  serve();
}

function serve() {
  const server = http.createServer((request, response) => {
    response.setHeader('content-type', 'text/plain');
    response.end(`hello from ${pod} on ${node}\n`);
  });
  server.listen(port, host, () =>
    log(`hello from ${pod}, pid ${process.pid}, serving http://${host}:${port}/`),
  );
  const ticker = setInterval(() => log(`${new Date().toISOString()} ${pod} is alive`), intervalMs);

  function stop() {
    log(`${pod} stopping`);
    clearInterval(ticker);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
