#!/usr/bin/env bash
# Render a report's claims.html in headless Chromium to a PNG, to look at the page as a person would.
# Usage: scripts/render_report_screenshot.sh REPORT_DIR [OUT.png]   (default OUT: REPORT_DIR/claims.png)
# Needs Debian's chromium (installed with apt-get when missing and running as root). Not used by the tests.
set -euo pipefail

report_dir="${1:?usage: $0 REPORT_DIR [OUT.png]}"
page="$(cd "$report_dir" && pwd)/claims.html"
out="${2:-$report_dir/claims.png}"
[ -f "$page" ] || { echo "$0: no $page (run pytest with --report $report_dir first)" >&2; exit 2; }

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "$0: chromium not found; install it: apt-get install -y chromium" >&2; exit 2; fi
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  browser="$(command -v chromium)"
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars \
  --screenshot="$(realpath -m "$out")" --window-size="${WINDOW_SIZE:-1280,2000}" "file://$page" 2>/dev/null
echo "screenshot: $out"
