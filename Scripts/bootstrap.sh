#!/usr/bin/env bash
# Installs what building and testing Spool needs on Debian/Ubuntu, idempotently:
# hiredis headers, redis-server and redis-cli (tests start their own servers), pkg-config,
# iproute2 and nftables (the fault suite's network partitions: a namespace, packets dropped),
# python3 (the http handler tests' server) and openssl (the TLS tests' certificates).
# Does not start or stop any Redis service itself (installing Debian's redis-server package
# enables one on 127.0.0.1:6379; the tests never use it). Needs Redis 7.0 or later.
set -euo pipefail

packages=(libhiredis-dev redis-server redis-tools pkg-config iproute2 nftables python3 openssl)

missing=()
installed() {
    # `dpkg -s` also succeeds for removed packages whose config files remain: check Status.
    # (Captured, not piped into `grep -q`, which could make pipefail see a SIGPIPE.)
    local status
    status=$(dpkg -s "$1" 2>/dev/null) || return 1
    [[ $status == *$'\nStatus: install ok installed\n'* ]]
}

for package in "${packages[@]}"; do
    if ! installed "$package"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "bootstrap: all packages present (${packages[*]})"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
        exit 1
    fi
    sudo=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "bootstrap: missing ${missing[*]}; run as root or install sudo" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    echo "bootstrap: installing ${missing[*]}"
    # through env: sudo would drop an exported DEBIAN_FRONTEND
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Spool needs Redis 7.0 (XINFO's entries-added and lag, ZMSCORE); Ubuntu 22.04 ships 6.0
version=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9]*\)\..*/\1/p')
if [[ -z "$version" || "$version" -lt 7 ]]; then
    echo "bootstrap: $(redis-server --version | head -n 1): Spool needs Redis 7.0 or later (Debian 12 ships 7.0; elsewhere see https://redis.io/docs/latest/operate/oss_and_stack/install/)" >&2
    exit 1
fi

if ! command -v swift >/dev/null 2>&1; then
    cat >&2 <<'MESSAGE'
bootstrap: swift is not on PATH. Spool is built and tested with Swift 6.3:
  - swiftly (https://www.swift.org/install/linux/): curl -O https://download.swift.org/swiftly/linux/swiftly-$(uname -m).tar.gz, then follow the steps there
  - or the official Docker image: docker run --rm -it -v "$PWD":/src -w /src swift:6.3-bookworm
MESSAGE
    exit 1
fi
swift --version 2>&1 | head -n 1
