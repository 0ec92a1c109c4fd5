#!/usr/bin/env bash
# Installs the Debian packages Bifrost's tests start as real peers. Idempotent and
# non-interactive: it installs only what is missing, and runs apt-get update only then.
#   mosquitto            MQTT broker for the cloud sink and gateway tests
#   python3-pymodbus     independent Modbus server (runs under /usr/bin/python3)
#   python3-serial-asyncio  pymodbus' server imports it (and pyserial); Debian only recommends it
#   mbpoll               independent Modbus client
#   socat                pseudo-terminal pairs for Modbus RTU
#   tmux                 drives the terminal dashboard in tests
#   chromium             the web dashboard's end-to-end tests (through playwright-core)
#   openssl              certificates for TLS, mutual TLS and OPC UA tests
#   iproute2             `ip netns` / veth pairs: the gateway's pulled-cable test (runs as root)
#   systemd              systemd-analyze verify on deploy/systemd/bifrost.service, and systemd-notify,
#                        which bifrost run uses for sd_notify (the tests receive it on their own socket)
set -euo pipefail
packages=(mosquitto mosquitto-clients python3-pymodbus python3-serial-asyncio mbpoll socat tmux chromium openssl procps iproute2 systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies: all present (${packages[*]})"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "test dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian mosquitto package starts a system broker on port 1883; the tests start their own on
# free ports, so the system one is left as it is.
echo "test dependencies: installed ${missing[*]}"
