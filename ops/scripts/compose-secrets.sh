#!/usr/bin/env bash
# compose-secrets.sh writes .env beside compose.yml, where `docker compose`
# reads the passwords compose.yml asks for: one random secret per service
# and store, readable by its owner alone (0600). An existing .env is kept
# (its secrets are in use); a variable it lacks is appended. To rotate a
# secret, delete its line, run this again and restart what uses it
# (docs/operations.md, "Security").
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
env_file="${1:-$root/.env}"

secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

umask 077
touch "$env_file"
chmod 600 "$env_file"
for name in POSTGRES_PASSWORD MINIO_ROOT_PASSWORD CHILLIN_S3_SECRET_KEY \
	NATS_GATEWAY_PASSWORD NATS_VALIDATOR_PASSWORD NATS_PROJECTOR_PASSWORD NATS_ADMIN_PASSWORD \
	REDIS_GATEWAY_PASSWORD REDIS_VALIDATOR_PASSWORD REDIS_PROJECTOR_PASSWORD; do
	if ! grep -q "^$name=" "$env_file"; then
		echo "$name=$(secret)" >>"$env_file"
	fi
done
echo "compose-secrets: $env_file holds the compose secrets (mode 0600)" >&2
