#!/bin/sh
# minio-init (compose.yml): once, with MinIO's root credentials, create the
# bucket and the app's own user, whose policy (minio-policy.json) reaches
# that bucket's objects and nothing else. The services use that user; root
# stays with operators. Safe to run again: every step is idempotent.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${CHILLIN_S3_ACCESS_KEY:?}" "${CHILLIN_S3_SECRET_KEY:?}" "${CHILLIN_S3_BUCKET:?}"

mc alias set chillin http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "chillin/$CHILLIN_S3_BUCKET"
# The policy names the bucket; substitute it for the placeholder.
sed "s/CHILLIN_BUCKET/$CHILLIN_S3_BUCKET/g" /init/minio-policy.json >/tmp/chillin-app.json
mc admin policy create chillin chillin-app /tmp/chillin-app.json
# Adding an existing user sets its secret: a rotated secret takes effect.
mc admin user add chillin "$CHILLIN_S3_ACCESS_KEY" "$CHILLIN_S3_SECRET_KEY"
if ! mc admin user info chillin "$CHILLIN_S3_ACCESS_KEY" | grep -q 'chillin-app'; then
	mc admin policy attach chillin chillin-app --user "$CHILLIN_S3_ACCESS_KEY"
fi
echo "minio-init: bucket $CHILLIN_S3_BUCKET and user $CHILLIN_S3_ACCESS_KEY ready"
