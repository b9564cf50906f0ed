#!/bin/sh
# One-shot bucket set-up for the compose stack (run by the `bucket-init` service, image minio/mc).
# Idempotent: safe on every `docker compose up`.
#   - the bucket, private (no anonymous access at all)
#   - the lifecycle rule on jobs/ (the backstop behind the cleanup worker; same rule as
#     shared/storage/s3.py ensure_bucket writes)
#   - an application user that can touch only this bucket (the services never hold root keys)
set -eu
mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$BUCKET"
mc anonymous set none "local/$BUCKET"
mc ilm import "local/$BUCKET" < /init/lifecycle.json
sed "s/__BUCKET__/$BUCKET/g" /init/app-policy.json > /tmp/speakup-app-policy.json
mc admin policy create local speakup-app /tmp/speakup-app-policy.json
mc admin user add local "$APP_ACCESS_KEY" "$APP_SECRET_KEY"
# attach answers an error when the policy is already attached: that is the state we want
mc admin policy attach local speakup-app --user "$APP_ACCESS_KEY" || true
mc ilm rule ls "local/$BUCKET"
echo "bucket-init: $BUCKET ready"
