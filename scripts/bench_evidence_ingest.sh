#!/bin/sh
# Evidence-ingest benchmark (performance anchor W5), same 12 MP JPEG, same run:
#   fieldcase ingest (hash + EXIF + thumbnail + watermarked display copy + sign + durable store)
#   vipsthumbnail -s 320x320 + openssl dgst -sha256       (Debian: libvips-tools, openssl)
#   ImageMagick convert -define jpeg:size=640x640 -thumbnail 320x320   (Debian: imagemagick)
# Prints wall time (median of RUNS) and peak RSS of each, and the ratios.
set -eu
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p fieldcase-core --example evidence_ingest --manifest-path "$here/Cargo.toml"
bin="$here/target/release/examples/evidence_ingest"
"$bin" make "$work/photo.jpg"

# measure NAME CMD...: median wall ms and max peak RSS (KiB) over RUNS runs, via python's
# getrusage of one child at a time.
measure() {
  name=$1; shift
  python3 - "$RUNS" "$@" <<'PY' | sed "s/^/$name /"
import subprocess, sys
runs = int(sys.argv[1]); cmd = sys.argv[2:]
times = []
rss = 0
for _ in range(runs):
    r = subprocess.run(["python3", "-c",
        "import resource,subprocess,sys,time; t=time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print((time.perf_counter()-t)*1000, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"] + cmd,
        check=True, capture_output=True, text=True)
    ms, kb = r.stdout.split()
    times.append(float(ms))
    rss = max(rss, int(kb))
times.sort()
print(f"median_ms {times[len(times)//2]:.1f} peak_rss_kb {rss}")
PY
}

echo "== fieldcase (in-process timing, one process per run of $RUNS ingests)"
"$bin" ingest "$work/photo.jpg" "$RUNS" | tee "$work/fc.txt"
fc_ms=$(awk '/^median_ms/ {print $2}' "$work/fc.txt")
fc_rss=$(awk '/^peak_rss_kb/ {print $2}' "$work/fc.txt")

measure vips sh -c "vipsthumbnail -s 320x320 -o '$work/v.jpg' '$work/photo.jpg' && openssl dgst -sha256 '$work/photo.jpg'" | tee "$work/vips.txt"
vips_ms=$(awk '{print $3}' "$work/vips.txt")
vips_rss=$(awk '{print $5}' "$work/vips.txt")
if [ -x /usr/bin/convert ]; then
  measure magick /usr/bin/convert -define jpeg:size=640x640 "$work/photo.jpg" -thumbnail 320x320 "$work/m.jpg" | tee "$work/im.txt"
  im_ms=$(awk '{print $3}' "$work/im.txt")
  im_rss=$(awk '{print $5}' "$work/im.txt")
fi
python3 - "$fc_ms" "$fc_rss" "$vips_ms" "$vips_rss" "${im_ms:-0}" "${im_rss:-0}" <<'PY'
import sys
fc_ms, fc_rss, v_ms, v_rss, im_ms, im_rss = map(float, sys.argv[1:])
print(f"fieldcase / vips+openssl: time {fc_ms / v_ms:.2f}x, peak RSS {fc_rss / v_rss:.2f}x")
if im_ms:
    print(f"fieldcase / ImageMagick:  time {fc_ms / im_ms:.2f}x, peak RSS {fc_rss / im_rss:.2f}x")
print("note: vips and ImageMagick times include process start-up; fieldcase's is in-process;")
print("      fieldcase's RSS is the whole process (SQLite, catalogue, store) after all runs.")
PY
