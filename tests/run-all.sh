#!/usr/bin/env bash
# Runs every feedwall test on a fresh Debian machine: installs the DNS tools
# the tests drive (kdig, dig, dnsperf, Unbound; NSD and Knot for the
# benchmark harness) and the FTP server the feed-fetch tests start
# (pyftpdlib) when missing, then builds and runs the whole suite.
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
have_py pyftpdlib      || need_pkgs+=(python3-pyftpdlib)
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
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}"
fi
for t in kdig dig dnsperf unbound unbound-checkconf nsd knotd; do
    have "$t" || { echo "error: $t is still missing after install" >&2; exit 1; }
done
have_py pyftpdlib || { echo "error: python3 module pyftpdlib is still missing after install" >&2; exit 1; }

# Formatting is part of the suite.
cargo fmt --all -- --check

# Unit and integration tests (release: the load and swap tests need speed).
cargo test --release --locked "$@"
# Benches and every target must keep compiling.
if [ $# -eq 0 ]; then
    cargo build --release --locked --all-targets
fi
