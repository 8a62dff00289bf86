#!/usr/bin/env bash
# Runs every feedwall test on a fresh Debian machine: installs the DNS tools
# the tests drive (kdig, dig, dnsperf, Unbound; NSD and Knot for the
# benchmark harness), the FTP server the feed-fetch tests start (pyftpdlib),
# and for the browser test Chromium, Node.js and npm when missing; runs
# `npm ci` in tests/browser (playwright-core, which drives Debian's Chromium:
# no browser download); then builds and runs the whole suite.
#
#   tests/run-all.sh            # everything
#   tests/run-all.sh reload     # pass a test-name filter to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
# A Python module, in Debian's python3 (where apt installs it) or the first on PATH.
have_py() { /usr/bin/python3 -c "import $1" >/dev/null 2>&1 || python3 -c "import $1" >/dev/null 2>&1; }
have kdig              || need_pkgs+=(knot-dnsutils)
have dig               || need_pkgs+=(bind9-dnsutils)
have dnsperf           || need_pkgs+=(dnsperf)
have unbound           || need_pkgs+=(unbound)
have unbound-checkconf || need_pkgs+=(unbound)
have nsd               || need_pkgs+=(nsd)
have knotd             || need_pkgs+=(knot)
# Setup-snippet tests: real BIND and dnsmasq forwarders; the nftables and
# iptables + ipset scripts run in a network namespace (ip netns).
have named             || need_pkgs+=(bind9)
have named-checkconf   || need_pkgs+=(bind9-utils)
have dnsmasq           || need_pkgs+=(dnsmasq-base)
have nft               || need_pkgs+=(nftables)
have ipset             || need_pkgs+=(ipset)
have iptables          || need_pkgs+=(iptables)
have ip6tables         || need_pkgs+=(iptables)
have ip                || need_pkgs+=(iproute2)
# Log intake tests: Python's smtplib (and small Python receivers) and
# util-linux `logger` as real mail and syslog clients.
have python3           || need_pkgs+=(python3)
have logger            || need_pkgs+=(bsdutils)
have_py pyftpdlib      || need_pkgs+=(python3-pyftpdlib)
have_py prometheus_client || need_pkgs+=(python3-prometheus-client)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# The appliance image (appliance/build) and its boot test under qemu: the
# partition tools, busybox, systemd-boot, OVMF; qemu-system-x86 and
# qemu-utils from the same release (a newer qemu-utils blocks the other).
have sfdisk            || need_pkgs+=(fdisk)
have mkfs.vfat         || need_pkgs+=(dosfstools)
have mcopy             || need_pkgs+=(mtools)
have mkfs.ext4         || need_pkgs+=(e2fsprogs)
have e2fsck           || need_pkgs+=(e2fsprogs)
have cpio              || need_pkgs+=(cpio)
have musl-gcc          || need_pkgs+=(musl-tools)
have qemu-system-x86_64 || need_pkgs+=(qemu-system-x86 qemu-utils)
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need_pkgs+=(ovmf)
[ -f /usr/lib/systemd/boot/efi/systemd-bootx64.efi ] || need_pkgs+=(systemd-boot-efi)
/bin/busybox --list 2>/dev/null | grep -qx acpid || need_pkgs+=(busybox-static)
have node              || need_pkgs+=(nodejs)
have npm               || need_pkgs+=(npm)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "installing: ${need_pkgs[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # Keep package scripts from starting the daemons (the tests start their
    # own on loopback ports).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    $SUDO apt-get update -qq
    # qemu-utils may come from a newer release than qemu-system-x86: take
    # the same release for both (a downgrade when needed).
    qemu_pin=()
    if printf '%s\n' "${need_pkgs[@]}" | grep -qx qemu-system-x86; then
        v="$(apt-cache policy qemu-system-x86 | sed -n 's/ *Candidate: //p')"
        qemu_pin=(--allow-downgrades "qemu-utils=$v" "qemu-block-extra-")
        need_pkgs=($(printf '%s\n' "${need_pkgs[@]}" | grep -vx qemu-utils))
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" "${qemu_pin[@]}"
fi
for t in kdig dig dnsperf unbound unbound-checkconf nsd knotd \
         named named-checkconf dnsmasq nft ipset iptables ip6tables ip \
         python3 logger sfdisk mkfs.vfat mcopy mkfs.ext4 e2fsck cpio musl-gcc \
         qemu-system-x86_64 qemu-img; do
    have "$t" || { echo "error: $t is still missing after install" >&2; exit 1; }
done
have_py pyftpdlib || { echo "error: python3 module pyftpdlib is still missing after install" >&2; exit 1; }
have_py prometheus_client || { echo "error: python3 module prometheus_client is still missing after install" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "error: /usr/bin/chromium is still missing after install" >&2; exit 1; }
for f in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/lib/systemd/boot/efi/systemd-bootx64.efi; do
    [ -f "$f" ] || { echo "error: $f is still missing after install" >&2; exit 1; }
done
/bin/busybox --list 2>/dev/null | grep -qx acpid || { echo "error: busybox-static is still missing after install" >&2; exit 1; }
for t in node npm; do
    have "$t" || { echo "error: $t is still missing after install" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "error: the browser test's playwright-core needs Node.js 20 or later, this is $(node --version)" >&2; exit 1; }

# The browser test's npm packages, exactly as locked.
if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
    (cd tests/browser && npm ci --no-audit --no-fund)
    touch tests/browser/node_modules
fi
[ -f tests/browser/node_modules/playwright-core/package.json ] || { echo "error: playwright-core is still missing in tests/browser/node_modules after npm ci" >&2; exit 1; }

# Formatting is part of the suite.
cargo fmt --all -- --check

# Unit and integration tests (release: the load and swap tests need speed).
# The swap-under-load test measures lost queries: it runs alone afterwards,
# so the heavier tests running in parallel (browser, real forwarders) cannot
# starve the responder's threads on a small machine and drop packets.
LOAD_TEST=reload::snapshots_swapped_many_times_a_second_under_dnsperf_load_lose_no_query
if [ $# -eq 0 ]; then
    cargo test --release --locked -- --skip "$LOAD_TEST"
    cargo test --release --locked --test it -- --exact "$LOAD_TEST"
else
    cargo test --release --locked "$@"
fi
# Benches and every target must keep compiling.
if [ $# -eq 0 ]; then
    cargo build --release --locked --all-targets
fi
# The appliance: build the image (twice: the boot files must be the same),
# boot it under qemu, use it from the host, power it off and on, upgrade it.
if [ $# -eq 0 ]; then
    appliance/boot-test
fi
