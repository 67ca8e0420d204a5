# Cobalt CDS container image, in two stages:
#   builder  wheels for every dependency in requirements.lock (hashes checked; durable_rules' C
#            extension is compiled here) and for the project, into one wheelhouse;
#   venv     on the runtime base, a virtual environment installed only from that wheelhouse
#            (--no-index: nothing is downloaded);
#   runtime  that environment (no wheel, no compiler), run as a non-root user, with JWT
#            authentication on (CDS_AUTH=off must be said explicitly).
# Both bases are build arguments: `docker build -t cobalt-cds .` uses the official Python images;
# `make image` builds the same file on bases made from Debian packages (docs/deployment.md).
ARG BUILDER_IMAGE=python:3.11
ARG BASE_IMAGE=python:3.11-slim

FROM ${BUILDER_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/build
WORKDIR /src
COPY requirements.lock ./
RUN /opt/build/bin/pip wheel --use-pep517 --require-hashes --wheel-dir /wheels --requirement requirements.lock
COPY pyproject.toml README.md ./
COPY cds ./cds
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE} AS venv
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=builder /wheels /wheels
RUN python3 -m venv /opt/cobalt-cds/venv \
    && /opt/cobalt-cds/venv/bin/pip install --no-index --find-links /wheels "cobalt-cds[postgres]" \
    && /opt/cobalt-cds/venv/bin/pip check

FROM ${BASE_IMAGE}
COPY --from=venv /opt/cobalt-cds/venv /opt/cobalt-cds/venv

# The rules, their schema and the fixtures their examples run on (checked at every start and reload).
COPY rules /opt/cobalt-cds/rules
COPY fhir_fixtures /opt/cobalt-cds/fhir_fixtures

RUN useradd --system --uid 10001 --home-dir /var/lib/cobalt-cds --create-home cds
USER 10001:10001
WORKDIR /var/lib/cobalt-cds

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/cobalt-cds/venv/bin:$PATH \
    CDS_HOME=/opt/cobalt-cds \
    CDS_DATA_DIR=/var/lib/cobalt-cds \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8080 \
    CDS_WORKERS=2 \
    CDS_AUTH=jwt
EXPOSE 8080
VOLUME /var/lib/cobalt-cds

HEALTHCHECK --interval=30s --timeout=3s --start-period=90s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ['CDS_PORT'], timeout=2)"]

CMD ["cds", "serve"]
