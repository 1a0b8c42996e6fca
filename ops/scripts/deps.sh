#!/usr/bin/env bash
# deps.sh makes sure the services Chillin needs on this machine answer:
# PostgreSQL and Redis (NATS JetStream runs embedded in the processes that need
# it), MinIO (object storage for attachments and avatars), and that nginx is
# installed (the local cluster, `make cluster`, and its tests put it in front
# of the gateways). It uses the machine's own PostgreSQL and Redis when they
# answer on their usual ports, and otherwise installs them from Debian's
# packages and starts private instances under var/ on free ports. MinIO is
# the S3 endpoint in CHILLIN_S3_ENDPOINT when one is configured; otherwise
# the pinned MinIO server is built with `go install` (once) and started
# privately under var/minio. It writes the resulting environment to
# var/deps.env, for `make` to source. var/deps.env and MinIO's folder hold
# the storage secret: they are readable by their owner alone (0600, 0700).
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

# ---- MinIO -------------------------------------------------------------------
# The pinned MinIO server, built from source with `go install` (MinIO has no
# Go module release tags: this pseudo-version is its commit of 2026-02-12).
minio_module=github.com/minio/minio
minio_version=v0.0.0-20260212201848-7aac2a2c5b7c

# minio_built BIN: BIN is the MinIO server of the pinned version.
minio_built() {
	[ -x "$1" ] && [ "$(go version -m "$1" 2>/dev/null | awk -v m="$minio_module" '$1 == "mod" && $2 == m { print $3 }')" = "$minio_version" ]
}

# minio_live PORT: a MinIO server answers its liveness probe on PORT.
minio_live() {
	if command -v curl >/dev/null; then
		curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/minio/health/live" 2>/dev/null
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1" &&
			printf 'GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
			head -1 <&3 | grep -q ' 200 ') 2>/dev/null
	fi
}

# An endpoint in the environment is used as is, unless it is the private
# server's own address (var/deps.env sourced into a shell): that one is
# checked and restarted like any private server.
s3_env=""
private_s3=""
[ -f "$var/minio/port" ] && private_s3="127.0.0.1:$(cat "$var/minio/port")"
if [ -n "${CHILLIN_S3_ENDPOINT:-}" ] && [ "$CHILLIN_S3_ENDPOINT" != "$private_s3" ]; then
	s3_where=$CHILLIN_S3_ENDPOINT
	log "object storage: the configured S3 endpoint $s3_where"
	# The tests use the same endpoint, in buckets of their own they remove.
	s3_env='export CHILLIN_TEST_S3_ENDPOINT="${CHILLIN_TEST_S3_ENDPOINT:-$CHILLIN_S3_ENDPOINT}"
export CHILLIN_TEST_S3_ACCESS_KEY="${CHILLIN_TEST_S3_ACCESS_KEY:-${CHILLIN_S3_ACCESS_KEY:-}}"
export CHILLIN_TEST_S3_SECRET_KEY="${CHILLIN_TEST_S3_SECRET_KEY:-${CHILLIN_S3_SECRET_KEY:-}}"
export CHILLIN_TEST_S3_SECURE="${CHILLIN_TEST_S3_SECURE:-${CHILLIN_S3_SECURE:-false}}"'
else
	minio_dir="$var/minio"
	mkdir -p "$minio_dir/data"
	# Its credentials, data and log are the owner's alone.
	chmod 700 "$minio_dir"
	gobin=$(go env GOBIN)
	[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
	minio="$gobin/minio"
	if ! minio_built "$minio"; then
		log "building the MinIO server $minio_version with go install (takes a few minutes, once)"
		GOFLAGS=-mod=mod GOWORK=off go install "$minio_module@$minio_version" >&2
		minio_built "$minio" || { log "go install left no MinIO $minio_version at $minio"; exit 1; }
	fi
	echo "$minio_version" >"$minio_dir/version"
	# Root credentials are generated once and kept with the data.
	if [ ! -s "$minio_dir/credentials" ]; then
		(umask 077 && printf 'chillin\n%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >"$minio_dir/credentials")
	fi
	chmod 600 "$minio_dir/credentials"
	minio_user=$(sed -n 1p "$minio_dir/credentials")
	minio_password=$(sed -n 2p "$minio_dir/credentials")
	minio_port=""
	if [ -f "$minio_dir/port" ] && minio_live "$(cat "$minio_dir/port")"; then
		minio_port=$(cat "$minio_dir/port")
	else
		# From below the ephemeral range (32768 and up), where a port nothing
		# listens on may still be the local end of some outgoing connection,
		# and MinIO then refuses it; such a refusal moves on to the next port.
		minio_port=$(free_port 29000)
		for attempt in 1 2 3 4 5; do
			log "starting a private MinIO on 127.0.0.1:$minio_port (data in $minio_dir/data)"
			MINIO_ROOT_USER="$minio_user" MINIO_ROOT_PASSWORD="$minio_password" \
				MINIO_BROWSER=off MINIO_UPDATE=off \
				setsid "$minio" server --quiet --address "127.0.0.1:$minio_port" "$minio_dir/data" \
				>>"$minio_dir/log" 2>&1 </dev/null &
			minio_pid=$!
			echo "$minio_pid" >"$minio_dir/pid"
			for _ in $(seq 300); do
				minio_live "$minio_port" && break
				kill -0 "$minio_pid" 2>/dev/null || break
				sleep 0.1
			done
			minio_live "$minio_port" && break
			if kill -0 "$minio_pid" 2>/dev/null || [ "$attempt" = 5 ]; then
				log "MinIO did not answer on :$minio_port within 30 s; see $minio_dir/log"
				exit 1
			fi
			log "MinIO stopped at start on :$minio_port ($(tail -n 2 "$minio_dir/log" | tr '\n' ' ')); trying another port"
			minio_port=$(free_port $((minio_port + 1)))
		done
		echo "$minio_port" >"$minio_dir/port"
	fi
	s3_where="127.0.0.1:$minio_port"
	s3_env="export CHILLIN_S3_ENDPOINT=\"127.0.0.1:$minio_port\"
export CHILLIN_S3_ACCESS_KEY=\"$minio_user\"
export CHILLIN_S3_SECRET_KEY=\"$minio_password\"
export CHILLIN_S3_BUCKET=\"\${CHILLIN_S3_BUCKET:-chillin}\"
export CHILLIN_TEST_S3_ENDPOINT=\"127.0.0.1:$minio_port\"
export CHILLIN_TEST_S3_ACCESS_KEY=\"$minio_user\"
export CHILLIN_TEST_S3_SECRET_KEY=\"$minio_password\"
export CHILLIN_TEST_S3_SECURE=\"false\""
fi

# The environment holds the storage secret: written readable by its owner
# alone, and a copy from before that rule is tightened.
[ -e "$env_file" ] && chmod 600 "$env_file"
(umask 077 && cat >"$env_file") <<ENV
export CHILLIN_POSTGRES_URL="\${CHILLIN_POSTGRES_URL:-postgres://postgres@127.0.0.1:$pg_port/chillin?sslmode=disable}"
export CHILLIN_TEST_POSTGRES_URL="\${CHILLIN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable}"
export CHILLIN_REDIS_URL="\${CHILLIN_REDIS_URL:-redis://127.0.0.1:$redis_port/0}"
export CHILLIN_TEST_REDIS_URL="\${CHILLIN_TEST_REDIS_URL:-redis://127.0.0.1:$redis_port/0}"
$s3_env
ENV
log "postgres on :$pg_port, redis on :$redis_port, object storage at $s3_where (environment in var/deps.env)"
