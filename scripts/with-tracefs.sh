#!/bin/sh
# with-tracefs.sh CMD [ARGS...]: runs CMD with tracefs at /sys/kernel/tracing,
# which tools attaching classic tracepoints (bcc's tcpstates, tcplife) need.
# Where it is mounted already (systemd mounts it at every boot) CMD just runs;
# elsewhere it runs in a private mount namespace with a tracefs mount of its
# own, so the host's mounts are never touched. exec all the way: CMD keeps
# this script's pid.
if [ -d /sys/kernel/tracing/events ]; then
	exec "$@"
fi
# shellcheck disable=SC2016 # expanded by the inner sh
exec unshare -m --propagation private sh -c \
	'mount -t tracefs tracefs /sys/kernel/tracing && exec "$@"' sh "$@"
