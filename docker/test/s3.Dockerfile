# Test stand-in for MinIO in docker/compose.yaml, for machines that cannot pull from Docker
# Hub (finance_assets_tests/test_docker_deploy.py builds it): moto's S3 API server, on the
# same base as the product image. It answers on port 9000 like the minio service, and it
# also runs the one-shot bucket creation in place of minio/mc (boto3 comes with moto).
#   docker build -f docker/test/s3.Dockerfile --build-arg BASE_IMAGE=... \
#       [--secret id=extra_ca,src=ca.pem] docker/test
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# extra_ca: CA certificates pip must trust (a TLS-inspecting proxy), as in docker/Dockerfile.
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export PIP_CERT=/run/secrets/extra_ca; fi \
    && pip install --no-cache-dir --disable-pip-version-check "moto[server]>=5.1,<6" \
    && python -c "import boto3, moto"

USER 10001:10001
EXPOSE 9000
CMD ["moto_server", "-H", "0.0.0.0", "-p", "9000"]
