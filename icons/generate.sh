#!/bin/sh
# Regenerates every app icon from the one source, icon.svg. The outputs are
# committed, so building needs none of these tools; run this after editing
# the SVG. Needs (Debian): librsvg2-bin icnsutils imagemagick.
set -eu
cd "$(dirname "$0")"
render() { rsvg-convert -w "$1" -h "$1" icon.svg -o "$2"; }
render 32 32x32.png
render 64 64x64.png
render 128 128x128.png
render 256 128x128@2x.png
render 512 icon.png
tmp=$(mktemp -d)
for size in 16 32 48 128 256 512 1024; do render "$size" "$tmp/$size.png"; done
# Windows: one .ico with the sizes Explorer and the taskbar use.
/usr/bin/convert "$tmp/16.png" "$tmp/32.png" "$tmp/48.png" "$tmp/256.png" icon.ico
# macOS: .icns from the sizes png2icns accepts.
png2icns icon.icns "$tmp/16.png" "$tmp/32.png" "$tmp/48.png" "$tmp/128.png" "$tmp/256.png" "$tmp/512.png" "$tmp/1024.png" >/dev/null
rm -r "$tmp"
