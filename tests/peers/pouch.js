// The PouchDB side of `peer_replication_*`: loads the records the bench wrote (the same case
// records our phone recorded, as JSON), puts them one at a time into a local PouchDB (leveldb
// in a scratch folder, as the record would be saved when made), then times the replication up
// to pouchdb-server and, into a fresh local database, back down.
//
// node pouch.js RECORDS.json SERVER_URL SCRATCH_DIR
// stdout: {"docs":N,"up_ms":…,"down_ms":…}
'use strict';
const fs = require('fs');
const path = require('path');
const PouchDB = require('pouchdb');

async function main() {
  const [recordsFile, serverUrl, scratch] = process.argv.slice(2);
  if (!recordsFile || !serverUrl || !scratch) {
    throw new Error('usage: node pouch.js RECORDS.json SERVER_URL SCRATCH_DIR');
  }
  const records = JSON.parse(fs.readFileSync(recordsFile, 'utf8'));
  const n = records.length;
  const phoneA = new PouchDB(path.join(scratch, 'phone-a'));
  for (const r of records) {
    await phoneA.put({ _id: r.id, ...r });
  }
  const remote = new PouchDB(`${serverUrl}/cases`);
  await remote.info();

  let t = process.hrtime.bigint();
  const up = await PouchDB.replicate(phoneA, remote, { batch_size: 100 });
  const upMs = Number(process.hrtime.bigint() - t) / 1e6;
  if (!up.ok || up.docs_written !== n) {
    throw new Error(`replication up wrote ${up.docs_written} of ${n}`);
  }

  const phoneB = new PouchDB(path.join(scratch, 'phone-b'));
  t = process.hrtime.bigint();
  const down = await PouchDB.replicate(remote, phoneB, { batch_size: 100 });
  const downMs = Number(process.hrtime.bigint() - t) / 1e6;
  const info = await phoneB.info();
  if (!down.ok || info.doc_count !== n) {
    throw new Error(`replication down left ${info.doc_count} of ${n} documents`);
  }
  await Promise.all([phoneA.close(), phoneB.close(), remote.close()]);
  process.stdout.write(JSON.stringify({ docs: n, up_ms: upMs, down_ms: downMs }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`pouch.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
