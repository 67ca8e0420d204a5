# Cobalt CDS container image: the package installed (not editable) with the PostgreSQL driver, the
# bundled rules and their example fixtures under CDS_HOME, run as a non-root user.
#   docker build -t cobalt-cds .
#   docker run -p 8080:8080 cobalt-cds
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md ./
COPY cds ./cds
RUN pip install ".[postgres]" && rm -rf /build

# The rules, their schema and the fixtures their examples run on (checked at every start and reload).
COPY rules /opt/cobalt-cds/rules
COPY fhir_fixtures /opt/cobalt-cds/fhir_fixtures

RUN useradd --system --uid 10001 --home-dir /var/lib/cobalt-cds --create-home cds
USER cds
WORKDIR /var/lib/cobalt-cds

ENV CDS_HOME=/opt/cobalt-cds \
    CDS_DATA_DIR=/var/lib/cobalt-cds \
    CDS_PORT=8080 \
    CDS_WORKERS=2
EXPOSE 8080
VOLUME /var/lib/cobalt-cds

HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['CDS_PORT'], timeout=2)"

CMD ["cds", "serve", "--host", "0.0.0.0"]
