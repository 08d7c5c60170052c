#!/bin/sh
# The official redis image's entrypoint behaviour (tests/pods/images/redis.Dockerfile).
set -e
# first argument an option or a config file: run redis-server with them
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
# started as root: own /data and drop to the redis user
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
umask 0077
exec "$@"
