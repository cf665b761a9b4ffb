#!/usr/bin/env bash
# Installs the real components the tests talk to, when they are missing:
#   bcoin 1.0.2 (npm, regtest node) into .cache/bcoin
#   Prometheus and promtool (Debian's prometheus package)
#   chromium (Debian's package: the miners' page tests drive it through Playwright)
#   HAProxy (Debian's package: the pool cluster behind it, PROXY protocol v2)
# PostgreSQL is expected on 127.0.0.1:5432; it is started here when installed but stopped.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.cache"
mkdir -p "$cache"

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Node.js and npm, for bcoin.
if ! command -v npm >/dev/null 2>&1; then
    echo "installing nodejs and npm" >&2
    apt_install nodejs npm
fi

# bcoin 1.0.2: leveldown must be overridden to install on Node 20.
bcoin_dir="$cache/bcoin"
if [ ! -x "$bcoin_dir/node_modules/.bin/bcoin" ]; then
    echo "installing bcoin 1.0.2 into $bcoin_dir" >&2
    mkdir -p "$bcoin_dir"
    cat > "$bcoin_dir/package.json" <<'JSON'
{"name": "surplus-bcoin", "private": true, "overrides": {"leveldown": "6.1.1"}}
JSON
    (cd "$bcoin_dir" && npm install --no-audit --no-fund --loglevel=error bcoin@1.0.2 >/dev/null)
fi

# Prometheus and promtool.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "installing prometheus (Debian package)" >&2
    apt_install prometheus
fi

# Chromium, for the miners' page tests (Playwright drives this one; it never downloads its own).
if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium (Debian package)" >&2
    apt_install chromium
fi

# HAProxy, in front of the pool cluster (tests/stratum/test_haproxy.py).
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    echo "installing haproxy (Debian package)" >&2
    apt_install haproxy
fi

# iproute2's `ip`, for the cluster's hosts as network namespaces (tests/cluster/netns.py).
if ! command -v ip >/dev/null 2>&1 && [ ! -x /usr/sbin/ip ] && [ ! -x /sbin/ip ]; then
    echo "installing iproute2 (Debian package)" >&2
    apt_install iproute2
fi

# PostgreSQL: present on these machines; start the cluster if it is installed but down.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        ver="$(ls /etc/postgresql 2>/dev/null | head -1)"
        [ -n "$ver" ] && pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    fi
fi
exit 0
