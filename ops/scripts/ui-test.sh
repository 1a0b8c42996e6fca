#!/usr/bin/env bash
# ui-test.sh runs the web app's unit tests with node's test runner, installing
# Node.js from Debian's packages if it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v node >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
cd "$root/ui"
node --test test/
