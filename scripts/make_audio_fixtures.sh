#!/bin/sh
# Regenerates the small checked-in audio samples used by core/tests/evidence_*.rs.
# Needs ffmpeg (Debian package `ffmpeg`). The tests also build WAV, AMR and ADTS files by
# hand, so only the M4A (AAC in an MP4 container) sample depends on this script.
set -eu
out="$(dirname "$0")/../core/tests/data"
mkdir -p "$out"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:duration=1.5:sample_rate=16000" \
  -ac 1 -c:a aac -b:a 24k -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
  "$out/tone-1500ms.m4a"
ls -l "$out"
