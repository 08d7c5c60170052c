#!/bin/sh
# The official haproxy image's entrypoint behaviour (tests/pods/images/haproxy.Dockerfile).
set -e
# first argument an option (`-f`, `-W`...): run haproxy with them
if [ "${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi
# master-worker mode in the foreground, as the official image adds
if [ "$1" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
