# Test stand-in for the postgres:16 image of docker/compose.yaml, for machines that cannot
# pull from Docker Hub (finance_assets_tests/test_docker_deploy.py builds it): Debian's
# PostgreSQL on the same base as the product image, started the way the official image
# starts. Same contract: POSTGRES_USER (the superuser), POSTGRES_PASSWORD, POSTGRES_DB,
# data in /var/lib/postgresql/data, port 5432, pg_isready on PATH.
#   docker build -f docker/test/postgres.Dockerfile --build-arg BASE_IMAGE=... docker/test
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# No cluster at install time: the entrypoint creates one in the data volume on first start.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/#?\s*(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql

COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh

ENV PGDATA=/var/lib/postgresql/data
EXPOSE 5432
# Fast shutdown, as the official image: SIGTERM would wait for every client to leave.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
