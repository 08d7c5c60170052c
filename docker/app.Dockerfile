# The LabelHive app image: one image for web (gunicorn), worker, scheduler and migrations.
# The operator runs it as `labelhive <command>` (uid/gid 10001, read-only root, emptyDir on /tmp).
# Build from the repository root:  docker build -f docker/app.Dockerfile -t ghcr.io/labelhive/labelhive:0.1.0 .
# Base images are pinned by full version tag here; CI/release pins them by digest (docker/README.md).
# BASE: any image with Python 3.11 as `python3` plus venv; scripts/build-images passes a Debian one
# (debootstrap) where no registry is reachable. WHEELS: a directory of wheels in the build context
# (scripts/build-images fills build/wheels) for an offline install; empty: from the package index.
# Plain Dockerfile syntax, no `# syntax=` line: the classic builder (DOCKER_BUILDKIT=0) builds it.
ARG BASE=python:3.11.13-slim-bookworm

FROM ${BASE} AS builder
ARG WHEELS=
ARG VERSION=0.1.0
# scripts/build-images removes superseded builder stages by this label
LABEL org.labelhive.stage=builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/labelhive
WORKDIR /src
# the context is .dockerignore's allowlist: the distribution's sources (and build/wheels if present)
COPY . .
# a regular (non-editable) install: the venv is all the final stage needs
RUN if [ -n "$WHEELS" ]; then set -- --no-index --find-links "$WHEELS"; fi \
    && /opt/labelhive/bin/pip install --no-cache-dir "$@" . \
    && /opt/labelhive/bin/python -m compileall -q /opt/labelhive/lib
# the SBOM of what the final stage ships (docker/sbom.py): the virtualenv's packages, the base's
# Debian packages and the interpreter; the SBOM tool has a virtualenv of its own, never copied
RUN if [ -n "$WHEELS" ]; then set -- --no-index --find-links "$WHEELS/sbom"; fi \
    && python3 -m venv /opt/sbom-tool \
    && /opt/sbom-tool/bin/pip install --no-cache-dir "$@" -r docker/sbom-requirements.txt \
    && /opt/sbom-tool/bin/cyclonedx-py environment --output-reproducible --no-validate \
       -o /tmp/venv.cdx.json /opt/labelhive/bin/python \
    && /opt/sbom-tool/bin/python docker/sbom.py /tmp/venv.cdx.json /sbom/labelhive.cdx.json \
       --name labelhive --version "$VERSION" --python /opt/labelhive/bin/python

FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="labelhive" \
      org.opencontainers.image.description="LabelHive web, worker, scheduler and migrations" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/labelhive/labelhive" \
      org.labelhive.sbom="/usr/share/sbom/labelhive.cdx.json"
# the uid/gid the operator's Pods run as (labelhive_operator/builders/common.py APP_UID); nothing
# but /tmp stays world-writable (the base's /var/tmp, /run/lock), read-only root or not
RUN groupadd --system --gid 10001 labelhive \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin labelhive \
    && find / -xdev -perm -o+w ! -path /tmp ! -type l -exec chmod o-w {} +
COPY --from=builder /opt/labelhive /opt/labelhive
# the image's CycloneDX SBOM (scripts/build-images copies it out to build/sbom/)
COPY --from=builder /sbom/labelhive.cdx.json /usr/share/sbom/labelhive.cdx.json
# the HAProxy sidecar's configuration (the operator's ConfigMap carries the same file), for
# `labelhive serve --with-proxy`, which looks for it here; root-owned and read-only to uid 10001
COPY haproxy/haproxy.cfg /etc/labelhive/haproxy.cfg
ENV PATH=/opt/labelhive/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 5000
# no HEALTHCHECK: Kubernetes probes /healthz and /readyz
ENTRYPOINT ["labelhive"]
CMD ["serve", "--host", "0.0.0.0", "--port", "5000"]
