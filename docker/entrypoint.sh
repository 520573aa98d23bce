#!/bin/sh
# janserver's container entry point: runs the given command, by default the production
# server (gunicorn -c gunicorn.conf.py), as PID 1 so that it receives the stop signal.
# `manage <command> [args]` is short for `python manage.py <command> [args]`.
set -eu

if [ "${1:-}" = "manage" ]; then
    shift
    exec python manage.py "$@"
fi
exec "$@"
