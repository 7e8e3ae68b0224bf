// An automerge-repo sync server as the project's own sync-server template sets one up
// (NodeWSServerAdapter, NodeFSStorageAdapter, sharing nothing unasked), bound to 127.0.0.1.
// `GET /count` answers how many documents the server holds with content, and `POST /flush`
// waits until they are written to storage, so a client can tell when its upload has landed.
//
// node am_server.mjs PORT DATA_DIR
import express from 'express';
import { WebSocketServer } from 'ws';
import { Repo } from '@automerge/automerge-repo';
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';

const [port, dir] = process.argv.slice(2);
if (!port || !dir) {
  process.stderr.write('usage: node am_server.mjs PORT DATA_DIR\n');
  process.exit(2);
}
process.on('unhandledRejection', (e) => {
  process.stderr.write(`am_server: unhandled rejection: ${e && e.stack ? e.stack : e}\n`);
});

const wss = new WebSocketServer({ noServer: true });
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `bench-server-${process.pid}`,
  sharePolicy: async () => false,
});

const app = express();
app.get('/', (_req, res) => res.send('ok'));
app.get('/count', (_req, res) => {
  let n = 0;
  for (const h of Object.values(repo.handles)) {
    if (h.isReady() && h.doc() && h.doc().id !== undefined) n += 1;
  }
  res.json({ docs: n });
});
app.post('/flush', async (_req, res) => {
  await repo.flush();
  res.json({ ok: true });
});
const server = app.listen(Number(port), '127.0.0.1');
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
