#!/usr/bin/env bash
# Fetch the Noto emoji (64x64 RGBA PNGs, Apache-2.0; the npm package is MIT) into a folder of images that
# `--set data.source=FOLDER` trains on: the colour data of benchmarks/suites/ablation-colour.yaml and
# baselines-colour.yaml. Needs npm (the npm registry is the one place the package is published).
#   scripts/get_noto_emoji.sh [OUT]        (default OUT: data/noto-emoji-64)
set -euo pipefail
OUT="${1:-data/noto-emoji-64}"
VERSION="16.0.0"
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
  echo "$OUT already holds $(ls "$OUT" | wc -l) images; remove it to fetch again." >&2
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch emoji-datasource-google; install Node.js first." >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "emoji-datasource-google@$VERSION" >/dev/null && tar -xzf emoji-datasource-google-"$VERSION".tgz)
mkdir -p "$OUT"
cp "$TMP"/package/img/google/64/*.png "$OUT"/
echo "$(ls "$OUT" | wc -l) emoji images in $OUT (emoji-datasource-google@$VERSION, Noto Emoji, Apache-2.0)"
