#!/usr/bin/env bash
# A bounded schemathesis run against the OpenAPI schema the server serves: a real
# uvicorn server on 127.0.0.1 with a fresh SQLite database and production settings,
# called as an owner of the default organization. Fails on any 5xx and on answers
# that break the schema (status codes, content types, bodies).
#   bash .ci/schema_fuzz.sh [MAX_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-240}"
tmp="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

secret() { .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(64))'; }
export DJANGO_SETTINGS_MODULE=janserver.settings DJANGO_DEBUG=0 DJANGO_SECURE_SSL_REDIRECT=0
export DJANGO_SECRET_KEY="$(secret)" JWT_SECRET="$(secret)" APIKEY_SECRET="$(secret)"
export DJANGO_ALLOWED_HOSTS=127.0.0.1 DATABASE_URL="sqlite:///$tmp/fuzz.sqlite3" REDIS_URL=
export ORGANIZATION_ADMIN_EMAILS=fuzz@example.com LOG_LEVEL=ERROR AUTH_FAILURE_RATE=100000/min
export AUTH_THROTTLE_RATE=100000/min

.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py bootstrap >/dev/null
token="$(.venv/bin/python manage.py shell -c '
from accounts.models import User
from accounts.tokens import tokens_issue
print(tokens_issue(user=User.objects.get(email="fuzz@example.com")).access)' | tail -n 1)"

port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
.venv/bin/python -m uvicorn janserver.asgi:application --host 127.0.0.1 --port "$port" \
  --no-access-log --log-level warning >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null && break
  sleep 0.1
done

status=0
.venv/bin/schemathesis run "http://127.0.0.1:$port/api/schema/" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-time "$budget" --workers 2 --suppress-health-check all \
  --exclude-path /metrics --exclude-path-regex '^/v1/auth/google/|^/v1/(conv/)?mcp$' || status=$?
if grep -q "Unhandled exception" "$tmp/server.log"; then
  echo "the server logged unhandled exceptions:"; grep -A5 "Unhandled exception" "$tmp/server.log" | head -50
  status=1
fi
exit "$status"
