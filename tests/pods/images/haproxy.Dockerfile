# A TEST-ONLY stand-in for the official `haproxy:2.8.16-alpine` image (the web Pod's sidecar),
# built from Debian packages because no image registry is reachable where the tests run:
#   scripts/build-images haproxy   ->  labelhive-test/haproxy:bookworm
# The same contract as the official image: an argument list starting with `-` runs
# `haproxy -W -db ARGS`, the configuration is /usr/local/etc/haproxy/haproxy.cfg, the user is
# haproxy (uid/gid 99), STOPSIGNAL SIGUSR1, working directory /var/lib/haproxy.
# What differs: HAProxy 2.6 (Debian bookworm's) instead of 2.8; Debian (glibc) instead of Alpine
# (musl); the Debian package's unused extras (/etc/haproxy, init scripts); and Python 3.11 from
# the shared base. Never published: the operator's default stays the official image.
ARG BASE=labelhive/python-base:3.11-bookworm
FROM ${BASE}
# the .debs scripts/build-base-image downloaded (no package index inside a build here)
COPY debs/haproxy/ /tmp/debs/
# policy-rc.d stops the package starting a service; its postinst creates the haproxy user, which
# then takes the official image's uid/gid 99 (below adduser's system range, so not beforehand)
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod 0755 /usr/sbin/policy-rc.d \
    && dpkg -i /tmp/debs/*.deb \
    && rm -rf /tmp/debs /usr/sbin/policy-rc.d \
    && old_uid=$(id -u haproxy) old_gid=$(id -g haproxy) \
    && groupmod --gid 99 haproxy \
    && usermod --uid 99 --gid 99 haproxy \
    && find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 99:99 {} + \
    && mkdir -p /usr/local/etc/haproxy /var/lib/haproxy
COPY haproxy-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
STOPSIGNAL SIGUSR1
USER 99:99
WORKDIR /var/lib/haproxy
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
