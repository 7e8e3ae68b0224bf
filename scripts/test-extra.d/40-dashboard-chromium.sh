#!/usr/bin/env bash
# The supervisors' dashboard and the public disclosure page in headless Chromium (Debian
# `chromium`): a fresh data folder seeded with synced cases (one with a photo and a recording
# captured through the phone's ingest), the server on loopback, a login through a one-time
# link, assertions on the rendered DOM, and a screenshot kept as target/dashboard.png. Then a
# legal reviewer's path driven over the DevTools protocol (dashboard_case_cdp.py): the review
# queue, the case page with its thumbnails and recording loaded, the checklist ticked, the
# decision approved; screenshot target/case-page.png. Everything is bounded by timeouts; the
# server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  echo "installing Debian chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 $SUDO apt-get update -qq
  timeout 900 $SUDO apt-get install -y --no-install-recommends chromium
  # Chinese glyphs for the screenshot (the DOM assertions do not need them).
  timeout 300 $SUDO apt-get install -y --no-install-recommends fonts-wqy-zenhei || true
fi

timeout 1800 cargo build -q -p fieldcase-server --bin fieldcase-server --example seed_demo
BIN="$TARGET/debug/fieldcase-server"
SEED="$TARGET/debug/examples/seed_demo"

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

timeout 120 "$SEED" "$DATA"

"$BIN" serve --data "$DATA" --listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
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

link() { "$BIN" admin --data "$DATA" dashboard-link --user "${1:-SV-0}" --base-url "$BASE" --ttl-minutes 5; }

chrome() {
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-dev-shm-usage --no-first-run --user-data-dir="$WORK/profile-$1" "${@:2}" 2>/dev/null
}

fail() { echo "FAIL: $*"; exit 1; }

DOM="$(chrome dom --dump-dom "$(link)")"
# Overdue visits: the seeded lapsed one and those the seed's pledges scheduled at their
# deadlines, so only "some" is checked.
grep -qE '逾期回访（[1-9][0-9]*）' <<<"$DOM" || fail "dashboard lacks overdue visits"
for want in '柔性执法监督看板' '721 占比' '每周趋势' '各单位' '法制审核队列（2）' \
  '重复违法地点' '<b id="cases">6</b>' '<b id="persuaded">12</b>' 'id="donut721"' 'id="trend"' \
  'luan/jinan/squad-1'; do
  grep -qF -- "$want" <<<"$DOM" || fail "dashboard lacks $want"
done
grep -qF '<script' <<<"$DOM" && fail "dashboard has a script"

# Without a session the dashboard refuses; the disclosure page needs none and shows no
# personal data.
NOLOGIN="$(chrome anon --dump-dom "$BASE/dashboard")"
grep -qF '请登录' <<<"$NOLOGIN" || fail "dashboard without login"
PUBLIC="$(chrome public --dump-dom "$BASE/disclosure?unit=luan&pii=1")"
grep -qF '行政执法决定公示' <<<"$PUBLIC" || fail "disclosure page"
grep -qF '金安区一中队' <<<"$PUBLIC" || fail "disclosure page names no unit"
grep -qF '<b id="total">2</b>' <<<"$PUBLIC" || fail "disclosure page total"
for canary in 欧阳金花 341502198803037778 13955550123 张三丰 341502199001011239 13866661234 梅山中路; do
  grep -qF "$canary" <<<"$PUBLIC" && fail "disclosure shows $canary"
done

mkdir -p "$TARGET"
rm -f "$TARGET/dashboard.png"
chrome shot --window-size=1280,2200 --screenshot="$TARGET/dashboard.png" "$(link)" >/dev/null || true
[ -s "$TARGET/dashboard.png" ] || fail "no screenshot"

# The reviewer's path: queue, case page, evidence loaded, checklist, approval.
rm -f "$TARGET/case-page.png"
timeout 180 python3 scripts/test-extra.d/dashboard_case_cdp.py "$CHROMIUM" "$(link RV-1)" \
  "$TARGET/case-page.png" "$WORK/profile-cdp" || fail "the reviewer's case page in Chromium"
[ -s "$TARGET/case-page.png" ] || fail "no case page screenshot"
echo "dashboard OK in headless Chromium; screenshots: $TARGET/dashboard.png, $TARGET/case-page.png"
