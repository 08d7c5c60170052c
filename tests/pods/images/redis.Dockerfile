# A TEST-ONLY stand-in for the official `redis:7.4.2-alpine` image (Redis and Sentinel of a
# LabelingProject), built from Debian packages because no image registry is reachable where the
# tests run:  scripts/build-images redis  ->  labelhive-test/redis:bookworm
# The same contract as the official image for what the operator's Pods run: `sh`, `redis-server`,
# `redis-sentinel`, `redis-cli` and `hostname` on PATH, user redis (uid 999, gid 1000), /data as
# working directory and volume, an entrypoint that runs redis-server for `-...`/`*.conf`
# arguments and drops root to redis.
# What differs: Redis 7.0 (Debian bookworm's) instead of 7.4; Debian (glibc) instead of Alpine
# (musl); `setpriv` instead of `su-exec` to drop root; the Debian package's unused extras
# (/etc/redis, init scripts); and Python 3.11 from the shared base. Never published.
ARG BASE=labelhive/python-base:3.11-bookworm
FROM ${BASE}
# the .debs scripts/build-base-image downloaded (no package index inside a build here)
COPY debs/redis/ /tmp/debs/
# policy-rc.d stops the packages starting services; their postinst creates the redis user, which
# then takes the official image's uid 999 and gid 1000
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod 0755 /usr/sbin/policy-rc.d \
    && dpkg -i /tmp/debs/*.deb \
    && rm -rf /tmp/debs /usr/sbin/policy-rc.d \
    && old_uid=$(id -u redis) old_gid=$(id -g redis) \
    && groupmod --gid 1000 redis \
    && usermod --uid 999 --gid 1000 --home /data redis \
    && find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h redis:redis {} + \
    && mkdir -p /data \
    && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
