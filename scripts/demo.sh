#!/usr/bin/env bash
# make demo: a local RabbitMQ (same code as the tests), vsb-proxy on it, one sample dataflow
# registered; prints where the API is and runs until Ctrl-C, then stops everything by pid.
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
"$BUN" proxy/main.ts --listen "$HOST:$PORT" --amqp-url "$VSB_AMQP_URL" --mqtt-url "$VSB_MQTT_URL" --db "$work/vsb.db" \
  2>"$work/proxy.log" &
pids+=($!)
for ((i = 0; i < 300; i++)); do
  curl -fsS -o /dev/null "$API/health" 2>/dev/null && break
  kill -0 "${pids[1]}" 2>/dev/null || { tail -n 20 "$work/proxy.log" >&2; say "vsb-proxy exited"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "$API/health" || { tail -n 20 "$work/proxy.log" >&2; say "vsb-proxy not healthy after 30 s"; exit 1; }

say "registering a sample dataflow (a 5GMETA sensor body plus videoInfo)"
registration=$(curl -fsS -X POST "$API/dataflows" -H 'content-type: application/json' --data-binary @- <<'JSON'
{
  "dataTypeInfo": { "dataType": "video", "dataSubType": "h264" },
  "dataInfo": {
    "dataFormat": "webrtc", "dataSampleRate": 30, "dataflowDirection": "upload",
    "extraAttributes": "{\"resolution\": \"1280x720\"}"
  },
  "licenseInfo": { "licenseGeolimit": "europe", "licenseType": "profit" },
  "dataSourceInfo": {
    "sourceTimezone": 2, "sourceStratumLevel": 3, "sourceId": 1, "sourceType": "vehicle",
    "sourceLocationInfo": {
      "locationQuadkey": "031333123201033303", "locationCountry": "ESP",
      "locationLatitude": 43.295778, "locationLongitude": -1.980823
    }
  },
  "videoInfo": { "width": 1280, "height": 720, "fps": 30, "codec": "h264", "source": "test" }
}
JSON
) || { tail -n 20 "$work/proxy.log" >&2; say "registration failed"; exit 1; }

cat <<EOF

vsb demo is running.
  API            $API   (dashboard at /, OpenAPI at $API/openapi.json)
  dataflows      curl $API/dataflows
  registered     $registration
  RabbitMQ       AMQP $VSB_AMQP_URL   MQTT $VSB_MQTT_URL
  logs           $work/proxy.log, $work/rabbitmq.log

Press Ctrl-C to stop.
EOF

# Run until Ctrl-C, or until either process exits. Ctrl-C reaches the children too, so one
# of them may be gone before the trap has run: give the trap a moment before judging.
interrupted=0
trap 'interrupted=1' INT TERM
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$registration")
keepalive=$(sed -n 's/.*"keepaliveSeconds":\([0-9.]*\).*/\1/p' <<<"$registration")
next=0
while ((interrupted == 0)) && kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; do
  # Keep the sample dataflow alive (a real sensor sends these keep-alives).
  if ((SECONDS >= next)) && [[ -n $id ]]; then
    curl -fsS -o /dev/null -X PUT "$API/dataflows/$id" 2>/dev/null || true
    next=$((SECONDS + ${keepalive%.*}))
  fi
  sleep 0.5
done
sleep 0.3
((interrupted == 1)) && exit 130
say "a process exited; stopping"
tail -n 20 "$work/proxy.log" >&2
exit 1
