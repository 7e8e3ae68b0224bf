// The automerge-repo side of `peer_replication_*`: one Automerge document per record (the
// same case records our phone recorded, as JSON). A phone repo creates them offline and the
// upload is timed from going online until the server holds every one and has written them to storage; then a fresh
// repo finds every document through the server.
//
// node am_client.mjs RECORDS.json HTTP_URL WS_URL
// stdout: {"docs":N,"up_ms":…,"down_ms":…}
import fs from 'node:fs';
import { Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';

const POLL_MS = 20;
const LIMIT_MS = 280_000;
// Finds in flight at once: all 1,000 at once made the repo report documents unavailable.
const FIND_BATCH = 100;

async function serverCount(httpUrl) {
  const res = await fetch(`${httpUrl}/count`);
  return (await res.json()).docs;
}

async function main() {
  const [recordsFile, httpUrl, wsUrl] = process.argv.slice(2);
  if (!recordsFile || !httpUrl || !wsUrl) {
    throw new Error('usage: node am_client.mjs RECORDS.json HTTP_URL WS_URL');
  }
  const records = JSON.parse(fs.readFileSync(recordsFile, 'utf8'));
  const n = records.length;

  // The documents are made offline, as records are in the field; the clock starts when the
  // phone goes online.
  const phoneA = new Repo({ network: [] });
  const urls = records.map((r) => phoneA.create(r).url);
  let t = process.hrtime.bigint();
  phoneA.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(wsUrl));
  const deadline = Date.now() + LIMIT_MS;
  let held = 0;
  while ((held = await serverCount(httpUrl)) < n) {
    if (Date.now() > deadline) throw new Error(`the server holds ${held} of ${n} after the time limit`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const flushed = await fetch(`${httpUrl}/flush`, { method: 'POST' });
  if (!flushed.ok) throw new Error(`flush answered ${flushed.status}`);
  const upMs = Number(process.hrtime.bigint() - t) / 1e6;

  // The clock includes connecting, as our download's does; finding before the server is a
  // peer would give up on every document at once.
  t = process.hrtime.bigint();
  const phoneB = new Repo({ network: [new WebSocketClientAdapter(wsUrl)] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server never became a peer')), 30_000);
    phoneB.networkSubsystem.once('peer', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const handles = [];
  for (let i = 0; i < urls.length; i += FIND_BATCH) {
    handles.push(...(await Promise.all(urls.slice(i, i + FIND_BATCH).map((u) => phoneB.find(u)))));
  }
  const downMs = Number(process.hrtime.bigint() - t) / 1e6;
  const complete = handles.filter((h) => h.doc() && h.doc().id !== undefined).length;
  if (complete !== n) throw new Error(`the fresh repo found ${complete} of ${n}`);
  process.stdout.write(JSON.stringify({ docs: n, up_ms: upMs, down_ms: downMs }) + '\n');
  await Promise.race([
    Promise.all([phoneA.shutdown(), phoneB.shutdown()]),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`am_client.mjs: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
