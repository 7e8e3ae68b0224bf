#!/usr/bin/env bash
# Regenerates core/fonts/NotoSansCJKsc-fieldcase.otf, the CJK font that enforcement documents
# and evidence watermarks are drawn with, from Noto Sans CJK SC Regular as Debian ships it.
#
# Reproducible: the same source font and fontTools version give the same bytes (the script
# checks the source's SHA-256 and pins fontTools). Run from anywhere; needs root for apt-get
# (or the package already installed) and Python 3 with pip.
#
#   bash scripts/make-font-subset.sh          # writes the font, prints its size and SHA-256
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
# fonts-noto-cjk 1:20220127+repack1-1 (Debian 12), Noto Sans CJK version 2.004.
SRC_SHA256=b76b0433203017ca80401b2ee0dd69350349871c4b19d504c34dbdd80541690a
FONTTOOLS_VERSION=4.69.1
OUT=core/fonts/NotoSansCJKsc-fieldcase.otf

if [ ! -f "$SRC" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk
fi
echo "$SRC_SHA256  $SRC" | sha256sum -c --quiet - || {
  echo "unexpected $SRC (another fonts-noto-cjk version?); check the ranges and update SRC_SHA256" >&2
  exit 1
}

VENV=${FONT_VENV:-${TMPDIR:-/tmp}/fieldcase-fonttools-$FONTTOOLS_VERSION}
if [ ! -x "$VENV/bin/pyftsubset" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "fonttools==$FONTTOOLS_VERSION"
fi

# The TTC holds ten faces; find Simplified Chinese by its PostScript name rather than trusting
# a position (index 2 in 2.004).
INDEX=$("$VENV/bin/python" - "$SRC" <<'PY'
import sys
from fontTools.ttLib import TTCollection
for i, f in enumerate(TTCollection(sys.argv[1], lazy=True).fonts):
    if f["name"].getDebugName(6) == "NotoSansCJKsc-Regular":
        print(i)
        break
else:
    sys.exit("NotoSansCJKsc-Regular not found in the collection")
PY
)

# What documents print: ASCII and Latin-1 (incl. × ¥ ·), General Punctuation (— … ‘’ “”),
# Letterlike ℃ №, enclosed numerals ①–⑳, check boxes and marks for forms (√ □ ■ ○ ● ☐ ☑ ☒),
# CJK Symbols and Punctuation (、。〔〕「」《》〇), the whole CJK Unified Ideographs block
# (party names use characters outside GB2312, such as 喆 and 堃), Halfwidth and Fullwidth Forms.
UNICODES="U+0020-007E,U+00A0-00FF,U+2000-206F,U+2103,U+2116,U+2460-2473,U+221A,\
U+25A0,U+25A1,U+25CB,U+25CF,U+2610-2612,U+3000-303F,U+4E00-9FFF,U+FF00-FFEF"

# No hinting (print and raster at watermark sizes do not need it) and no OpenType layout
# features: the renderer maps characters to glyphs one to one and measures with their advances,
# so what is laid out is exactly what is drawn. Vertical metrics go too (documents are
# horizontal). The name table keeps the copyright, licence and version records.
SOURCE_DATE_EPOCH=0 "$VENV/bin/pyftsubset" "$SRC" \
  --font-number="$INDEX" \
  --unicodes="$UNICODES" \
  --output-file="$OUT" \
  --no-hinting \
  --desubroutinize \
  --layout-features='' \
  --drop-tables+=GSUB,GPOS,GDEF,BASE,VORG,vhea,vmtx \
  --name-IDs=0,1,2,3,4,5,6,7,8,9,11,12,13,14 \
  --notdef-outline \
  --no-recalc-timestamp

size=$(stat -c %s "$OUT")
echo "$OUT: $size bytes ($(( size / 1024 )) KiB), sha256 $(sha256sum "$OUT" | cut -d' ' -f1)"
