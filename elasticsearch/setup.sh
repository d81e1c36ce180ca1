#!/bin/sh
# Installs the index template for DocuSign Monitor events in ECS (docusign-input --format ecs):
# data stream logs-docusign.monitor-* with ECS mappings (ip, geo_point, keyword, date_nanos for
# DocuSign's seven fractional digits). Run it once before the first event arrives, and again after
# an upgrade of docusign-input (it replaces the template; existing backing indices keep theirs
# until the next rollover: POST logs-docusign.monitor-default/_rollover).
#
# usage: ES_URL=https://es.example.com:9200 ES_USER=elastic ES_PASSWORD=... elasticsearch/setup.sh
#        ES_URL=... ES_API_KEY=<base64 id:key> elasticsearch/setup.sh
# Optional: ES_CA_BUNDLE=/path/ca.pem (a private CA). The credentials reach curl on its stdin,
# never on its command line (where `ps` would show them).
# Exit codes: 0 installed; 1 Elasticsearch answered with an error (credentials, privileges);
# 69 Elasticsearch could not be reached (address, network, TLS); 78 a setting or file missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
template="$here/index-template.json"
[ -n "${ES_URL:-}" ] || { echo "setup.sh: ES_URL is not set: set it to the Elasticsearch URL, e.g. https://es.example.com:9200" >&2; exit 78; }
[ -r "$template" ] || { echo "setup.sh: $template is missing: run it from a docusign-input checkout" >&2; exit 78; }

# curl's config file takes a quoted value with \ and " escaped: a password holding either
# would otherwise reach Elasticsearch changed (and be refused as wrong credentials).
quoted() {
    printf '%s' "$1" | sed 's/[\\"]/\\&/g'
}

credentials() {
    if [ -n "${ES_API_KEY:-}" ]; then
        printf 'header = "Authorization: ApiKey %s"\n' "$(quoted "$ES_API_KEY")"
    elif [ -n "${ES_USER:-}" ]; then
        printf 'user = "%s:%s"\n' "$(quoted "$ES_USER")" "$(quoted "${ES_PASSWORD:-}")"
    fi
}

set -- --silent --show-error --fail-with-body --request PUT \
    --header 'Content-Type: application/json' --data-binary "@$template" \
    "${ES_URL%/}/_index_template/logs-docusign.monitor"
if [ -n "${ES_CA_BUNDLE:-}" ]; then
    set -- --cacert "$ES_CA_BUNDLE" "$@"
fi
set +e
answer=$(credentials | curl --config - --connect-timeout 10 "$@")
status=$?
set -e
case $status in
    0) ;;
    22)  # --fail-with-body: an HTTP error status; the body says why
        echo "setup.sh: Elasticsearch refused the template: $answer" >&2
        echo "setup.sh: check the credentials (the user needs the manage_index_templates privilege)" >&2
        exit 1 ;;
    *)  # no HTTP answer at all; curl said why on the line above (--show-error)
        echo "setup.sh: could not reach Elasticsearch at ES_URL (curl exit $status): check ES_URL, that Elasticsearch runs and listens there, and for https ES_CA_BUNDLE" >&2
        exit 69 ;;
esac
echo "installed index template logs-docusign.monitor (data stream logs-docusign.monitor-*): $answer"
