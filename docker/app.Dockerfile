# syntax=docker/dockerfile:1
# The LabelHive app image: one image for web (gunicorn), worker, scheduler and migrations.
# The operator runs it as `labelhive <command>` (uid/gid 10001, read-only root, emptyDir on /tmp).
# Build from the repository root:  docker build -f docker/app.Dockerfile -t ghcr.io/labelhive/labelhive:0.1.0 .
# Base images are pinned by full version tag here; CI/release pins them by digest (docker/README.md).

FROM python:3.11.13-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/labelhive
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app/ app/
COPY operator/ operator/
# a regular (non-editable) install: the venv is all the final stage needs
RUN /opt/labelhive/bin/pip install --no-cache-dir . \
    && /opt/labelhive/bin/python -m compileall -q /opt/labelhive/lib

FROM python:3.11.13-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="labelhive" \
      org.opencontainers.image.description="LabelHive web, worker, scheduler and migrations" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/labelhive/labelhive"
# the uid/gid the operator's Pods run as (labelhive_operator/builders/common.py APP_UID)
RUN groupadd --system --gid 10001 labelhive \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin labelhive
COPY --from=builder /opt/labelhive /opt/labelhive
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
