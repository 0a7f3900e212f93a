#!/usr/bin/env bash
# Kannel against the same SMSC simulator and load as `kurier bench`, for the
# side-by-side figures in BENCHMARKS.md. Installs Debian's kannel if needed,
# starts `kurier smsc-sim` (receipt for every message, no delay), Kannel's
# bearerbox and smsbox, sends N messages through smsbox's sendsms over C
# keep-alive connections, and waits until bearerbox has received every
# delivery receipt and matched it (its DLR queue is empty).
#
#   bench/peers/kannel.sh [N=100000] [C=32]
#   KURIER=target/release/kurier (default) picks the simulator binary;
#   DEADLINE_S=900 (default) is how long it waits for the receipts before
#   it gives up and fails; RECEIPT_DELAY_MS=0 (default) is how long the
#   simulator holds each receipt back.
#
# Kannel is set up for throughput as its user guide recommends: one
# transceiver SMPP session with a window (max-pending-submits) of 200 like
# Kurier's, internal DLR storage, logs at error level only, no throttling,
# no per-user limits. Its delivery reports are matched in memory: Kannel
# does not store messages durably.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}
C=${2:-32}
KURIER=${KURIER:-target/release/kurier}
[ -x "$KURIER" ] || { echo "build first: cargo build --release (or set KURIER)" >&2; exit 1; }
if ! command -v bearerbox >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kannel >/dev/null
fi
BEARERBOX=$(command -v bearerbox)
SMSBOX=$(command -v smsbox)

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
# Whether a process runs (one that exited stays a zombie until waited for).
alive() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state:0:1}" != Z ]; }

# The simulator listens on ports the system picks and says which.
"$KURIER" smsc-sim --listen 127.0.0.1:0 --http 127.0.0.1:0 --receipt-delay-ms "${RECEIPT_DELAY_MS:-0}" \
  --account kannel:bench >"$dir/sim.log" 2>&1 &
pids+=($!); sim_pid=$!
for _ in $(seq 1 100); do
  # The log may not exist yet: the background job opens it after the fork.
  SMPP=$(sed -n 's|^SMSC simulator: smpp://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$dir/sim.log" 2>/dev/null || true)
  CTRL=$(sed -n 's|^Control API: *http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$dir/sim.log" 2>/dev/null || true)
  [ -n "$SMPP" ] && [ -n "$CTRL" ] && break
  alive "$sim_pid" || break
  sleep 0.1
done
[ -n "$SMPP" ] && [ -n "$CTRL" ] || { echo "the simulator did not start:" >&2; cat "$dir/sim.log" >&2; exit 1; }

# Kannel's own ports go into its configuration, so they are picked before
# it starts; should another process take one meanwhile (bearerbox or
# smsbox exits, or logs that it could not bind), they start again on other
# ports.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
status() { curl -s --max-time 5 "http://127.0.0.1:$ADMIN/status.xml?password=bench"; }
start_kannel() {
  ADMIN=$(free_port); BOX=$(free_port); SEND=$(free_port)
  cat >"$dir/kannel.conf" <<CONF
group = core
admin-port = $ADMIN
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = $BOX
log-file = "$dir/bearerbox.log"
log-level = 3
access-log = "$dir/access.log"
dlr-storage = internal
sms-resend-retry = 0

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = $SMPP
transceiver-mode = true
smsc-username = kannel
smsc-password = bench
system-type = ""
source-addr-ton = 5
source-addr-npi = 0
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = 200
msg-id-type = 0x03
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BOX
sendsms-port = $SEND
sendsms-interface = 127.0.0.1
log-file = "$dir/smsbox.log"
log-level = 3
access-log = "$dir/smsbox-access.log"

group = sendsms-user
username = bench
password = bench
max-messages = 1
CONF

  "$BEARERBOX" "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 &
  bb_pid=$!
  sleep 1
  "$SMSBOX" "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 &
  sb_pid=$!
  # Wait until the SMPP session is online and smsbox takes requests.
  for _ in $(seq 1 100); do
    alive "$bb_pid" && alive "$sb_pid" || return 1
    # A port taken meanwhile: said in their logs (bearerbox runs on without
    # the port it could not bind).
    ! grep -qs "Address already in use" "$dir"/bearerbox.* "$dir"/smsbox.* || return 1
    if status | grep -q 'online' && curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$SEND/"; then return 0; fi
    sleep 0.2
  done
  return 0 # running but not online: said below
}
for attempt in 1 2 3; do
  if start_kannel; then break; fi
  kill "$bb_pid" "$sb_pid" 2>/dev/null || true
  wait "$bb_pid" "$sb_pid" 2>/dev/null || true
  rm -f "$dir"/bearerbox.* "$dir"/smsbox.*
  [ "$attempt" -lt 3 ] || { echo "Kannel did not start; see $dir" >&2; cat "$dir/bearerbox.out" "$dir/smsbox.out" >&2; exit 1; }
done
pids+=("$bb_pid" "$sb_pid")
status | grep -q 'online' || { echo "Kannel did not bind to the simulator; see $dir" >&2; cat "$dir/bearerbox.log" >&2; exit 1; }

# CPU seconds (user + system) of a process, from /proc.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# bearerbox's counter of delivery receipts received from the SMSC, and its DLR queue.
dlr_counts() {
  status | python3 -c 'import sys, xml.etree.ElementTree as E
d = E.fromstring(sys.stdin.read()).find("dlr")
print(d.findtext("received/total"), d.findtext("queued"))'
}

cpu0=$(echo "$(cpu $bb_pid) + $(cpu $sb_pid)" | bc)
sim0=$(cpu $sim_pid)
start=$(date +%s.%N)
load=$(python3 bench/peers/load.py \
  "http://127.0.0.1:$SEND/cgi-bin/sendsms?username=bench&password=bench&from=Bench&text=Hello%20from%20the%20benchmark&dlr-mask=3" \
  "$N" "$C")
accepted_at=$(date +%s.%N)
accepted=$(echo "$load" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')
deadline=$(( $(date +%s) + ${DEADLINE_S:-900} ))
while :; do
  read -r got queued < <(dlr_counts)
  if [ "${got:-0}" -ge "$accepted" ] && [ "${queued:-1}" = 0 ]; then break; fi
  [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out: $got receipts of $accepted" >&2; exit 1; }
  sleep 0.1
done
done_at=$(date +%s.%N)
submits=$(curl -s "http://127.0.0.1:$CTRL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["submits"])')
cpu1=$(echo "$(cpu $bb_pid) + $(cpu $sb_pid)" | bc)
sim1=$(cpu $sim_pid)
rss=$(( $(awk '/VmHWM/ {print $2}' /proc/$bb_pid/status) + $(awk '/VmHWM/ {print $2}' /proc/$sb_pid/status) ))

python3 - "$N" "$C" "$load" "$start" "$accepted_at" "$done_at" "$submits" "$got" "$cpu0" "$cpu1" "$sim0" "$sim1" "$rss" <<'PY'
import json, sys
n, c, load = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
start, accepted_at, done_at = map(float, sys.argv[4:7])
submits, receipts = int(sys.argv[7]), int(sys.argv[8] or 0)
cpu = float(sys.argv[10]) - float(sys.argv[9])
sim = float(sys.argv[12]) - float(sys.argv[11])
rss_mb = int(sys.argv[13]) / 1024
result = {
    "gateway": "kannel",
    "messages": n,
    "connections": c,
    "accepted": load["accepted"],
    "errors": load["errors"],
    "accepted_per_s": round(load["accepted"] / (accepted_at - start)),
    "submitted": submits,
    "completed": receipts,
    "completed_per_s": round(receipts / (done_at - start)),
    "peak_rss_mb": round(rss_mb, 1),
    "cpu_s_per_1000": round(cpu / max(receipts, 1) * 1000, 3),
    "sim_cpu_share": round(sim / max(sim + cpu, 1e-9), 2),
}
print(f"| kannel ({c} connections) | {result['accepted_per_s']:,} | – | {result['completed_per_s']:,} | "
      f"{result['peak_rss_mb']} MB | {result['cpu_s_per_1000']} | {result['sim_cpu_share']:.0%} |")
print(json.dumps(result))
PY
