#!/usr/bin/env bash
# PostgreSQL work per record: runs a fleet (fleet-sim) against PostgreSQL and reads the
# database's own counters before and after (pg_stat_database for the database, pg_stat_wal
# for the cluster), divided by the records the fleet created. Used for docs/scaling.md.
#   scripts/pg-work-per-record.sh [fleet-sim arguments...]
#   FLEET_SIM=target/debug/fleet-sim scripts/pg-work-per-record.sh --devices 200 --servers 3
# FIELDCASE_DATABASE_URL defaults to the local test database. The WAL figure is the whole
# cluster's: run it on a quiet server.
set -euo pipefail
cd "$(dirname "$0")/.."
url="${FIELDCASE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
db="${url##*/}"
snapshot() {
  psql "$url" -Atc "select pg_stat_clear_snapshot();" >/dev/null
  psql "$url" -AtF' ' -c "select xact_commit, tup_inserted, tup_updated, tup_deleted,
      tup_returned, tup_fetched, blks_read, blks_hit,
      (select wal_records from pg_stat_wal), (select wal_bytes from pg_stat_wal)
    from pg_stat_database where datname = '$db'"
}
# FLEET_SIM names an already built fleet-sim (the counts do not depend on the build's speed).
bin="${FLEET_SIM:-}"
if [ -z "$bin" ]; then
  cargo build --quiet --release -p fieldcase-tests --bin fleet-sim
  bin=target/release/fleet-sim
fi
before=$(snapshot)
report=$(FIELDCASE_DATABASE_URL="$url" "$bin" "$@" | tail -1)
sleep 1
after=$(snapshot)
echo "$report"
python3 - "$before" "$after" "$report" <<'PY'
import json, sys
names = ["transactions", "rows inserted", "rows updated", "rows deleted", "rows returned",
         "rows fetched", "blocks read", "blocks hit", "WAL records", "WAL bytes"]
b = [float(x) for x in sys.argv[1].split()]
a = [float(x) for x in sys.argv[2].split()]
r = json.loads(sys.argv[3])
n = r["records_created"]
print(json.dumps({k: round((y - x) / n, 2) for k, x, y in zip(names, b, a)} | {
    "records": n, "servers": r["servers"], "upload_records_per_sec": r["upload_records_per_sec"],
    "records_lost": r["records_lost"], "converged": r["replicas_converged"]}, indent=1))
PY
