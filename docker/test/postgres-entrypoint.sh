#!/bin/sh
# Entrypoint of docker/test/postgres.Dockerfile: the official postgres image's first-start
# contract, on Debian's PostgreSQL. On an empty data directory: initdb with POSTGRES_USER
# as the superuser and POSTGRES_PASSWORD as its password (scram-sha-256 over TCP, trust
# on the local socket), then POSTGRES_DB. Then PostgreSQL runs as PID 1, as user postgres.
set -eu

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    as_postgres "$BIN/initdb" --pgdata="$PGDATA" --username="$POSTGRES_USER" \
        --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != "postgres" ]; then
        # Single-user mode: no server, no socket; one statement per line on stdin.
        printf 'CREATE DATABASE "%s" OWNER "%s"\n' "$POSTGRES_DB" "$POSTGRES_USER" \
            | as_postgres "$BIN/postgres" --single -D "$PGDATA" -c config_file="$PGDATA/postgresql.conf" postgres >/dev/null
    fi
    echo "postgres-entrypoint: initialized $PGDATA (database $POSTGRES_DB)"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' \
    -c unix_socket_directories=/var/run/postgresql "$@"
