#!/usr/bin/env bash
# Installs what building and testing Spool needs on Debian/Ubuntu, idempotently:
# hiredis headers, redis-server and redis-cli (tests start their own servers), pkg-config,
# iproute2 and nftables (the fault suite's network partitions: a namespace, packets dropped).
# Does not start or stop any system Redis service.
set -euo pipefail

packages=(libhiredis-dev redis-server redis-tools pkg-config iproute2 nftables)

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
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
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
