#!/bin/sh
# The images' entrypoint: runs the given command, first loading the embedded simulator's settings
# only when asked to. Opt in with DOCUSIGN_SIMULATOR_SETTINGS=/shared/simulator.env (the demo
# compose files do): the `simulator` service writes sourceable `export` lines there, and this waits
# up to DOCUSIGN_SIMULATOR_WAIT seconds (120) for them. Without it nothing waits: the settings come
# from the environment or --config, as in production. DOCUSIGN_USER_ID set (real DocuSign settings
# in a compose .env file) also skips the simulator.
set -eu
settings="${DOCUSIGN_SIMULATOR_SETTINGS:-}"
if [ -n "$settings" ] && [ -n "${DOCUSIGN_USER_ID:-}" ]; then
    echo "docusign-entrypoint: DOCUSIGN_USER_ID is set: using those settings, not the simulator's" >&2
elif [ -n "$settings" ]; then
    wait_s="${DOCUSIGN_SIMULATOR_WAIT:-120}"
    case "$wait_s" in
        '' | *[!0-9]*)
            echo "docusign-entrypoint: DOCUSIGN_SIMULATOR_WAIT=$wait_s is not a whole number of seconds; set e.g. 120" >&2
            exit 78
            ;;
    esac
    i=0
    until grep -q '^export DOCUSIGN_ENVIRONMENT=' "$settings" 2>/dev/null; do
        if [ "$i" -ge "$wait_s" ]; then
            echo "docusign-entrypoint: no simulator settings in $settings after $wait_s s; start the simulator service, or unset DOCUSIGN_SIMULATOR_SETTINGS to use your own settings" >&2
            exit 78
        fi
        if [ "$i" -eq 0 ]; then
            echo "docusign-entrypoint: waiting up to $wait_s s for the simulator's settings in $settings" >&2
        fi
        i=$((i + 1))
        sleep 1
    done
    # shellcheck disable=SC1090
    . "$settings"
    # the demo simulator holds a day of events: deliver them all on the first sync
    export DOCUSIGN_BACKFILL_START="${DOCUSIGN_BACKFILL_START:-earliest}"
fi
exec "$@"
