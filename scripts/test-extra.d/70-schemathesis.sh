#!/usr/bin/env bash
# Property-based tests of the HTTP API from its own description: schemathesis reads the
# server's generated `GET /openapi.json`, sends generated requests (valid and invalid) to every
# JSON route with an enrolled officer's credential, and fails on any 5xx reply, any status or
# content type the document does not give for the route, or any body off its schema. The real
# server binary runs on loopback over a fresh data folder with request budgets raised (the
# default budgets would answer most of the run with 429); it is stopped on exit.
# Budget: SCHEMATHESIS_MAX_EXAMPLES (default 100) examples per operation, two workers, and the
# whole run under a 10-minute timeout. SCHEMATHESIS_SEED (default 1) picks the examples;
# change it to explore further.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
SEED="${SCHEMATHESIS_SEED:-1}"

python3 -m pip install --quiet schemathesis cbor2
timeout 1800 cargo build -q -p fieldcase-server --bin fieldcase-server
BIN="$TARGET/debug/fieldcase-server"

WORK="$(mktemp -d)"
DATA="$WORK/data"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

admin() { timeout 60 "$BIN" admin --data "$DATA" "$@"; }
admin create-unit --path luan --name 六安市城管局 >/dev/null
admin create-unit --path luan/jinan --name 金安区 >/dev/null
admin create-unit --path luan/jinan/squad-1 --name 一中队 >/dev/null
admin create-user --id OF-1 --name 测试队员 --role officer --unit luan/jinan/squad-1 \
  --cert-no 34150001 >/dev/null

cat >"$WORK/config.toml" <<'EOF'
[rate]
device = { burst = 100000, per_second = 10000 }
enrol = { burst = 100000, per_second = 10000 }
public = { burst = 100000, per_second = 10000 }
bad_credential = { burst = 100000, per_second = 10000 }
EOF

: >"$WORK/server.out"
"$BIN" serve --config "$WORK/config.toml" --data "$DATA" --listen 127.0.0.1:0 \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR="$(sed -n 's/^listening on //p' "$WORK/server.out" | head -n1)"
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err"; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "server did not start"; cat "$WORK/server.err"; exit 1; }
case "$ADDR" in 127.0.0.1:*) ;; *) echo "not loopback: $ADDR"; exit 1 ;; esac
BASE="http://$ADDR"

# The SQLite database is in WAL mode, so the operator commands run beside the server.
CODE="$(admin --json create-code --user OF-1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')"
read -r DEVICE_ID CREDENTIAL < <(timeout 30 python3 - "$BASE" "$CODE" <<'EOF'
import json, sys, urllib.request
base, code = sys.argv[1], sys.argv[2]
body = json.dumps({"code": code, "device_public_key": "ab" * 32, "device_label": "schemathesis"})
req = urllib.request.Request(base + "/v1/enrol", data=body.encode(), method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=20) as r:
    reply = json.load(r)
print(reply["device_id"], reply["credential"])
EOF
)
[ -n "${CREDENTIAL:-}" ] || { echo "enrolment failed"; exit 1; }

# HTML pages and the dashboard (a session cookie, not the device credential) are left out;
# every other route is tested, including the blob upload.
START=$(date +%s)
HOOKS_DIR="$PWD/scripts/test-extra.d"
# Run from the temporary folder: schemathesis keeps a cache in its working directory.
cd "$WORK"
run_schemathesis() {
  FIELDCASE_DEVICE_ID="$DEVICE_ID" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    PYTHONPATH="$HOOKS_DIR${PYTHONPATH:+:$PYTHONPATH}" \
    timeout 600 python3 -m schemathesis.cli run "$BASE/openapi.json" \
    -H "Authorization: Bearer $CREDENTIAL" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --exclude-path-regex '^/(dashboard|login|logout|disclosure)' \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 2 \
    --request-timeout 20 --generation-database none --no-color
}
status=0
run_schemathesis 2>&1 | tee "$WORK/run.log" || status=$?
# schemathesis 4.32 sometimes stops one operation's coverage phase with an error of its own
# (a hypothesis FlakyFailure while drawing, no request involved): such a run, with no failed
# check, is run once more. A failed check is never retried.
if [ "$status" -ne 0 ] && ! grep -q '^Failures:' "$WORK/run.log" && grep -q 'Runtime Error' "$WORK/run.log"; then
  echo "schemathesis stopped on an error of its own, not a failed check; running it again"
  status=0
  run_schemathesis || status=$?
fi
echo "schemathesis finished in $(( $(date +%s) - START )) s (exit $status)"
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail)"
  tail -n 40 "$WORK/server.err"
  exit "$status"
fi
grep -q 'panicked' "$WORK/server.err" && { echo "the server panicked"; exit 1; }
echo "schemathesis OK against $BASE/openapi.json"
