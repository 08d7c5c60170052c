# The LabelHive operator image: `labelhive-operator run` execs
# `kopf run --standalone --liveness=http://0.0.0.0:8080/healthz --log-format=json`.
# Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t ghcr.io/labelhive/labelhive-operator:0.1.0 .
# Base images are pinned by full version tag here; CI/release pins them by digest (docker/README.md).
# BASE and WHEELS as in app.Dockerfile (scripts/build-images passes both where no registry is
# reachable). No `# syntax=` line: the classic builder (DOCKER_BUILDKIT=0) builds it.
ARG BASE=python:3.11.13-slim-bookworm

FROM ${BASE} AS builder
ARG WHEELS=
ARG VERSION=0.1.0
# scripts/build-images removes superseded builder stages by this label
LABEL org.labelhive.stage=builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/labelhive-operator
WORKDIR /src
# the context is .dockerignore's allowlist: the distribution's sources (and build/wheels if present)
COPY . .
# the distribution without the web app's dependencies, plus the operator's runtime dependencies
# only (the `operator` extra also carries its test tools)
RUN if [ -n "$WHEELS" ]; then set -- --no-index --find-links "$WHEELS"; fi \
    && /opt/labelhive-operator/bin/pip install --no-cache-dir "$@" \
       -r docker/operator-requirements.txt \
    && /opt/labelhive-operator/bin/pip install --no-cache-dir "$@" --no-deps . \
    && /opt/labelhive-operator/bin/python -m compileall -q /opt/labelhive-operator/lib
# the SBOM of what the final stage ships (docker/sbom.py): the virtualenv's packages, the base's
# Debian packages and the interpreter; the SBOM tool has a virtualenv of its own, never copied
RUN if [ -n "$WHEELS" ]; then set -- --no-index --find-links "$WHEELS/sbom"; fi \
    && python3 -m venv /opt/sbom-tool \
    && /opt/sbom-tool/bin/pip install --no-cache-dir "$@" -r docker/sbom-requirements.txt \
    && /opt/sbom-tool/bin/cyclonedx-py environment --output-reproducible --no-validate \
       -o /tmp/venv.cdx.json /opt/labelhive-operator/bin/python \
    && /opt/sbom-tool/bin/python docker/sbom.py /tmp/venv.cdx.json /sbom/labelhive-operator.cdx.json \
       --name labelhive-operator --version "$VERSION" --python /opt/labelhive-operator/bin/python

FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="labelhive-operator" \
      org.opencontainers.image.description="The LabelHive kopf operator (LabelingProject)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/labelhive/labelhive" \
      org.labelhive.sbom="/usr/share/sbom/labelhive-operator.cdx.json"
# the uid/gid of the chart's podSecurityContext (charts/labelhive-operator/values.yaml); nothing
# but /tmp stays world-writable (the base's /var/tmp, /run/lock), read-only root or not
RUN groupadd --system --gid 10001 labelhive \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin labelhive \
    && find / -xdev -perm -o+w ! -path /tmp ! -type l -exec chmod o-w {} +
COPY --from=builder /opt/labelhive-operator /opt/labelhive-operator
# the image's CycloneDX SBOM (scripts/build-images copies it out to build/sbom/)
COPY --from=builder /sbom/labelhive-operator.cdx.json /usr/share/sbom/labelhive-operator.cdx.json
ENV PATH=/opt/labelhive-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
# no HEALTHCHECK: the Deployment's livenessProbe reads kopf's /healthz
ENTRYPOINT ["labelhive-operator"]
CMD ["run"]
