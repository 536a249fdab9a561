#!/usr/bin/env bash
# make demo: the whole mission on embedded defaults. A local RabbitMQ (same code as the tests),
# vsb-proxy on it, vsb-agent with the test pattern, and vsb-consume holding a demand lease and
# printing the frames that arrive on RabbitMQ; runs until Ctrl-C, then stops everything by pid.
#   PORT=8080 (API port on 127.0.0.1; must be free)   KEEP=1 (keep the work dir with logs)
set -euo pipefail
cd "$(dirname "$0")/.."

BUN=node_modules/.bin/bun
PORT=${PORT:-8080}
HOST=127.0.0.1
API="http://$HOST:$PORT"
work=$(mktemp -d "${TMPDIR:-/tmp}/vsb-demo-XXXXXX")
pids=()

say() { printf 'demo: %s\n' "$*" >&2; }

# Stop one pid: INT, then TERM, then KILL, waiting up to 5 s after each.
stop_pid() {
  local pid=$1 sig i
  for sig in INT TERM KILL; do
    kill -0 "$pid" 2>/dev/null || return 0
    kill -s "$sig" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
  done
}

cleanup() {
  local status=$? i
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 || $status -ne 0 && $status -ne 130 ]]; then
    say "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x $BUN ]] || { say "node_modules/.bin/bun is missing: run make setup"; exit 1; }
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
  say "port $PORT on $HOST is in use: run make demo PORT=<another port>"
  exit 1
fi

say "starting RabbitMQ (about 6 s; 12 s the first time on a machine)"
"$BUN" scripts/rabbitmq.ts >"$work/rabbitmq.env" 2>"$work/rabbitmq.log" &
pids+=($!)
for ((i = 0; i < 1200; i++)); do
  grep -qx ready "$work/rabbitmq.env" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/rabbitmq.log" >&2; say "RabbitMQ did not start"; exit 1; }
  sleep 0.1
done
grep -qx ready "$work/rabbitmq.env" || { say "RabbitMQ not ready after 120 s"; exit 1; }
# shellcheck disable=SC1091
source <(grep '^VSB_' "$work/rabbitmq.env")

say "starting vsb-proxy on $API"
"$BUN" proxy/main.ts --listen "$HOST:$PORT" --amqp-url "$VSB_AMQP_URL" --mqtt-url "$VSB_MQTT_URL" --db "$work/vsb.db" --ice-address 127.0.0.1 \
  2>"$work/proxy.log" &
pids+=($!)
for ((i = 0; i < 300; i++)); do
  curl -fsS -o /dev/null "$API/health" 2>/dev/null && break
  kill -0 "${pids[1]}" 2>/dev/null || { tail -n 20 "$work/proxy.log" >&2; say "vsb-proxy exited"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "$API/health" || { tail -n 20 "$work/proxy.log" >&2; say "vsb-proxy not healthy after 30 s"; exit 1; }

# The agent: the embedded default source (test pattern with a clock), a fixed position in
# Donostia, the proxy's API and MQTT given statically, and loopback-only ICE.
LAT=43.295778 LON=-1.980823
say "starting vsb-agent (test pattern, 1280x720 30 fps) at ($LAT, $LON)"
"$BUN" agent/main.ts --source test --lat "$LAT" --lon "$LON" --registration-url "$API" \
  --mqtt-url "$VSB_MQTT_URL" --ice-address 127.0.0.1 --source-id demo-car-1 --country ESP \
  --status-file "$work/agent-status.json" 2>"$work/agent.log" &
pids+=($!)

say "waiting for the agent to register"
id=
for ((i = 0; i < 300; i++)); do
  id=$(curl -fsS "$API/dataflows?active=true" 2>/dev/null | sed -n 's/^\[{"id":\([0-9]*\).*/\1/p')
  [[ -n $id ]] && break
  kill -0 "${pids[2]}" 2>/dev/null || { tail -n 20 "$work/agent.log" >&2; say "vsb-agent exited"; exit 1; }
  sleep 0.1
done
[[ -n $id ]] || { tail -n 20 "$work/agent.log" >&2; say "the agent did not register within 30 s"; exit 1; }

cat <<EOF

vsb demo is running.
  dashboard      $API/            (click "preview" to watch the stream over WHEP)
  API            $API/dataflows   OpenAPI $API/openapi.json   metrics $API/metrics
  dataflow       $id, registered by vsb-agent; it sends only while someone wants it
  RabbitMQ       AMQP $VSB_AMQP_URL   MQTT $VSB_MQTT_URL
  AMQP 1.0       $VSB_AMQP10_URL, source /exchange/video/video.h264.$id (Qpid Proton, 5GMETA's pipelines)
  logs           $work/{proxy,agent,rabbitmq}.log

Now a consumer (vsb-consume) takes a demand lease: the agent starts streaming, and each
second below shows the frames and bitrate arriving on RabbitMQ (exchange "video",
routing key video.h264.$id). Press Ctrl-C to stop everything.

EOF

# No --out: the consumer writes no video anywhere. Its statistics (stderr) join this script's
# stdout, so they follow the lines above whether that is a terminal, a pipe or a log file.
"$BUN" proxy/consume.ts --dataflow "$id" --api-url "$API" --amqp-url "$VSB_AMQP_URL" 2>&1 &
pids+=($!)

# Run until Ctrl-C, or until a process exits. Ctrl-C reaches the children too, so one of
# them may be gone before the trap has run: give the trap a moment before judging.
interrupted=0
trap 'interrupted=1' INT TERM
alive() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done; }
while ((interrupted == 0)) && alive; do sleep 0.5; done
sleep 0.3
((interrupted == 1)) && exit 130
say "a process exited; stopping"
tail -n 20 "$work/proxy.log" "$work/agent.log" >&2
exit 1
