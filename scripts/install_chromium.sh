#!/usr/bin/env bash
# Installs Debian's chromium for the browser test of the HTML report (tests/test_html_report.py).
# Never downloads a browser build of its own: the test drives /usr/bin/chromium through
# Playwright. Exits 0 when chromium is there; otherwise says why not and exits 1 (the browser
# test then skips, and says so).
set -uo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
as_root=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && as_root="sudo -n"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: apt-get unavailable; install chromium by hand for the browser test" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ] && [ -z "$as_root" ]; then
    echo "install_chromium: not root and no sudo; run 'apt-get install chromium' as root for the browser test" >&2
    exit 1
fi
echo "install_chromium: installing Debian's chromium (for the HTML report's browser test)" >&2
if $as_root apt-get update -qq >/dev/null && $as_root apt-get install -y -qq chromium >/dev/null; then
    exit 0
fi
echo "install_chromium: 'apt-get install chromium' failed; the browser test will skip" >&2
exit 1
