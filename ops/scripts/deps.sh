#!/usr/bin/env bash
# deps.sh makes sure the services Chillin needs on this machine answer:
# PostgreSQL and Redis (NATS JetStream runs embedded in the processes that need
# it), and that nginx is installed (the local cluster, `make cluster`, and its
# tests put it in front of the gateways). It uses the machine's own when they answer on their usual ports, and
# otherwise installs them from Debian's packages and starts private instances
# under var/ on free ports. It writes the resulting environment to
# var/deps.env, for `make` to source.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
var="$root/var"
mkdir -p "$var"
env_file="$var/deps.env"

log() { echo "deps: $*" >&2; }

apt_updated=""
apt_install() {
	command -v apt-get >/dev/null || { log "cannot install $*: no apt-get"; exit 1; }
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		apt_updated=1
	fi
	log "installing $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# free_port FROM: the first port from FROM on that nothing listens on.
free_port() {
	local p=$1
	while port_open 127.0.0.1 "$p"; do p=$((p + 1)); done
	echo "$p"
}

# ---- PostgreSQL --------------------------------------------------------------
pg_port=""
if [ -n "${CHILLIN_PG_PORT:-}" ]; then
	pg_port=$CHILLIN_PG_PORT
elif port_open 127.0.0.1 5432; then
	pg_port=5432
elif [ -f "$var/pg/port" ] && port_open 127.0.0.1 "$(cat "$var/pg/port")"; then
	pg_port=$(cat "$var/pg/port")
else
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		apt_install postgresql
	fi
	bin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
	pg_port=$(free_port 55432)
	data="$var/pg/data"
	if [ ! -f "$data/PG_VERSION" ]; then
		log "initialising a private PostgreSQL in $data"
		mkdir -p "$data"
		chown -R postgres:postgres "$var/pg"
		runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres -A trust >/dev/null
	fi
	chown -R postgres:postgres "$var/pg"
	log "starting a private PostgreSQL on 127.0.0.1:$pg_port"
	runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$var/pg/log" -w \
		-o "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
	echo "$pg_port" >"$var/pg/port"
fi

# ---- Redis -------------------------------------------------------------------
redis_port=""
if [ -n "${CHILLIN_REDIS_PORT:-}" ]; then
	redis_port=$CHILLIN_REDIS_PORT
elif port_open 127.0.0.1 6379; then
	redis_port=6379
elif [ -f "$var/redis/port" ] && port_open 127.0.0.1 "$(cat "$var/redis/port")"; then
	redis_port=$(cat "$var/redis/port")
else
	command -v redis-server >/dev/null || apt_install redis-server
	redis_port=$(free_port 56379)
	mkdir -p "$var/redis"
	log "starting a private Redis on 127.0.0.1:$redis_port"
	redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
		--dir "$var/redis" --logfile "$var/redis/log" --daemonize yes >&2
	for _ in $(seq 50); do port_open 127.0.0.1 "$redis_port" && break; sleep 0.1; done
	echo "$redis_port" >"$var/redis/port"
fi

# ---- nginx -------------------------------------------------------------------
# Only the program: the cluster runs its own instance with a generated config.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	apt_install --no-install-recommends nginx
fi

cat >"$env_file" <<ENV
export CHILLIN_POSTGRES_URL="\${CHILLIN_POSTGRES_URL:-postgres://postgres@127.0.0.1:$pg_port/chillin?sslmode=disable}"
export CHILLIN_TEST_POSTGRES_URL="\${CHILLIN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable}"
export CHILLIN_REDIS_URL="\${CHILLIN_REDIS_URL:-redis://127.0.0.1:$redis_port/0}"
export CHILLIN_TEST_REDIS_URL="\${CHILLIN_TEST_REDIS_URL:-redis://127.0.0.1:$redis_port/0}"
ENV
log "postgres on :$pg_port, redis on :$redis_port (environment in var/deps.env)"
