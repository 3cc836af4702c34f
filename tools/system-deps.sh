#!/bin/sh
# Installs the Debian packages the tests use as real peers and build inputs, when
# run as root and something is missing. Never fails the build by itself: the tests
# that need a missing peer fail under CI=true and skip otherwise.
set -u
need=""
command -v sipp >/dev/null 2>&1 || need="$need sip-tester"
command -v socat >/dev/null 2>&1 || need="$need socat"
command -v bwrap >/dev/null 2>&1 || need="$need bubblewrap"
command -v kamailio >/dev/null 2>&1 || need="$need kamailio"
command -v baresip >/dev/null 2>&1 || need="$need baresip"
[ -e /usr/include/alsa/asoundlib.h ] || need="$need libasound2-dev"
[ -n "$need" ] || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "system-deps: not root, not installing:$need" >&2
    exit 0
fi
echo "system-deps: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1 || \
    echo "system-deps: apt-get install failed for:$need" >&2
exit 0
