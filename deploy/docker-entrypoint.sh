#!/bin/sh
# Container entrypoint for every tanso role. On the first start of an empty home it runs the
# role's `init` once (the config is the marker of a complete home), then execs the server so
# it receives SIGTERM directly.
#
# TANSO_ROLE       node (default) | directory | relay | host
# TANSO_HOME       the home directory (a persistent volume)
# TANSO_CONFIG     node: a config.toml managed by the deployment; installed on every start
# TANSO_COMPANY_ID node: the company's urn;  TANSO_NAME: its display name
# TANSO_KEY_FILE   node: an existing node key (PKCS#8 PEM, e.g. from a secret) to import
# TANSO_LISTEN     directory / relay: where to serve (ip:port)
# TANSO_ADVERTISE  directory / relay: the host:port nodes dial, put on the card (default
#                  TANSO_LISTEN, which is only right when that is a reachable address)
# TANSO_CARD_OUT   directory / relay: where to write the card for the nodes
# TANSO_METRICS_LISTEN  relay: its /metrics /healthz /readyz listener (default 127.0.0.1:9464,
#                  where the image's HEALTHCHECK probes)
# TANSO_DIRECTORY_CARD  node: trust this directory and join it; relay: admit its members
# TANSO_RELAY_CARD      node: reach partners and be reached through this relay
# TANSO_HOST_CONFIG     host: a host.toml managed by the deployment; installed on every start
# TANSO_HOST_KEK        host: the key-encryption key (base64), e.g. from a secret
# TANSO_HOST_TLS_DIR    host: cert.pem and key.pem shared by every replica (optional)
set -eu

role="${TANSO_ROLE:-node}"
home="${TANSO_HOME:?TANSO_HOME must be set}"

case "$role" in
node)
    if [ ! -f "$home/config.toml" ]; then
        if [ -n "${TANSO_KEY_FILE:-}" ]; then
            tanso init --home "$home" --company-id "${TANSO_COMPANY_ID:?}" --name "${TANSO_NAME:?}" --key-file "$TANSO_KEY_FILE"
        else
            tanso init --home "$home" --company-id "${TANSO_COMPANY_ID:?}" --name "${TANSO_NAME:?}"
        fi
        first_start=1
    else
        first_start=0
    fi
    if [ -n "${TANSO_CONFIG:-}" ]; then
        # The deployment owns the config: the mounted file wins on every start.
        cp "$TANSO_CONFIG" "$home/config.toml"
    fi
    if [ "$first_start" = 1 ] && [ -n "${TANSO_DIRECTORY_CARD:-}" ]; then
        tanso directory trust --home "$home" "$TANSO_DIRECTORY_CARD"
    fi
    if [ "$first_start" = 1 ] && [ -n "${TANSO_RELAY_CARD:-}" ]; then
        tanso relay use --home "$home" "$TANSO_RELAY_CARD"
    fi
    if [ -n "${TANSO_DIRECTORY_CARD:-}" ]; then
        # Announce the current card on every start; a directory that is still starting is
        # retried by the next start, not fatal.
        tanso directory join --home "$home" || echo "tanso: directory join failed; continuing" >&2
    fi
    exec tanso serve --home "$home"
    ;;
directory)
    if [ ! -f "$home/config.toml" ]; then
        tanso directory init --home "$home" --name "${TANSO_NAME:?}" --listen "${TANSO_LISTEN:?}" \
            --advertise "${TANSO_ADVERTISE:-$TANSO_LISTEN}"
    fi
    tanso directory card --home "$home" > "${TANSO_CARD_OUT:?}"
    exec tanso directory serve --home "$home"
    ;;
relay)
    if [ ! -f "$home/config.toml" ]; then
        tanso relay init --home "$home" --listen "${TANSO_LISTEN:?}" \
            --advertise "${TANSO_ADVERTISE:-$TANSO_LISTEN}" \
            --metrics-listen "${TANSO_METRICS_LISTEN:-127.0.0.1:9464}"
    fi
    if [ -n "${TANSO_DIRECTORY_CARD:-}" ]; then
        tanso relay trust-directory --home "$home" "$TANSO_DIRECTORY_CARD"
    fi
    tanso relay card --home "$home" > "${TANSO_CARD_OUT:?}"
    exec tanso relay serve --home "$home"
    ;;
host)
    if [ ! -f "$home/host.toml" ]; then
        tanso host init --home "$home" --kek-env TANSO_HOST_KEK
    fi
    if [ -n "${TANSO_HOST_CONFIG:-}" ]; then
        # The deployment owns the config: the mounted file wins on every start.
        cp "$TANSO_HOST_CONFIG" "$home/host.toml"
    fi
    if [ -n "${TANSO_HOST_TLS_DIR:-}" ]; then
        # One certificate for every replica: a tenant keeps its fingerprint when it moves.
        cp "$TANSO_HOST_TLS_DIR/cert.pem" "$home/tls/cert.pem"
        cp "$TANSO_HOST_TLS_DIR/key.pem" "$home/tls/key.pem"
        chmod 600 "$home/tls/key.pem"
    fi
    exec tanso host serve --home "$home"
    ;;
*)
    echo "tanso: unknown TANSO_ROLE $role (node, directory, relay, host)" >&2
    exit 64
    ;;
esac
