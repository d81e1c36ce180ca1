#!/bin/sh
# Aim the connector at the embedded simulator unless DOCUSIGN_USER_ID says otherwise.
# The `simulator` service writes its settings (sourceable `export` lines) to /shared/simulator.env.
set -eu
if [ -z "${DOCUSIGN_USER_ID:-}" ] && [ -d /shared ]; then
    i=0
    until grep -q '^export DOCUSIGN_ENVIRONMENT=' /shared/simulator.env 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 120 ]; then
            echo "docusign-entrypoint: no simulator settings in /shared/simulator.env after 120 s" >&2
            exit 78
        fi
        sleep 1
    done
    # shellcheck disable=SC1091
    . /shared/simulator.env
    # the demo simulator holds a day of events: deliver them all on the first sync
    export DOCUSIGN_BACKFILL_START="${DOCUSIGN_BACKFILL_START:-earliest}"
fi
exec "$@"
