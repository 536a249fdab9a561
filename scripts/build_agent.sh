#!/usr/bin/env bash
# Builds the single-file agent binary dist/vsb-agent (called by `make agent [ARCH=arm64]`).
#
# 1. `deno compile`: needs Deno's runtime (denort) for the target. Deno downloads it unless it
#    is in Deno's cache (DENO_DIR, default ~/.cache/deno) or DENORT_BIN names it — offline
#    builds need one of those.
# 2. Where deno cannot get its runtime, `bun build --compile` (same code: the agent uses only
#    web and node: APIs outside agent/runtime.ts). Cross builds need bun's runtime for the
#    target in bun's cache, or network.
#
# Env: ARCH (x64|amd64|x86_64|arm64|aarch64; default this machine), OUT (default dist/vsb-agent),
#      DENORT_BIN, DENO_DIR, VSB_BUILD_SKIP_DENO=1 (go straight to bun).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH="${ARCH:-$(uname -m)}"
case "$ARCH" in
  x64 | amd64 | x86_64) DENO_TARGET=x86_64-unknown-linux-gnu BUN_TARGET=bun-linux-x64 ;;
  arm64 | aarch64) DENO_TARGET=aarch64-unknown-linux-gnu BUN_TARGET=bun-linux-arm64 ;;
  *) echo "build_agent: unknown ARCH \"$ARCH\" (want x64 or arm64)" >&2; exit 2 ;;
esac
OUT="${OUT:-dist/vsb-agent}"
DENO="${DENO:-node_modules/.bin/deno}"
BUN="${BUN:-node_modules/.bin/bun}"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"

# deno.json may carry keys this deno does not know under "compile"; give deno compile a
# config with only what it needs (imports come from package.json + node_modules).
CONFIG="$(dirname "$OUT")/.deno-compile.json"
cat > "$CONFIG" <<JSON
{ "nodeModulesDir": "manual", "compilerOptions": { "strict": true, "lib": ["deno.ns", "dom", "esnext"] } }
JSON
trap 'rm -f "$CONFIG"' EXIT

built_with=""
if [ "${VSB_BUILD_SKIP_DENO:-0}" != "1" ] && [ -x "$DENO" ]; then
  echo "build_agent: deno compile --target $DENO_TARGET${DENORT_BIN:+ (DENORT_BIN=$DENORT_BIN)}" >&2
  if log="$(NO_COLOR=1 "$DENO" compile --quiet -A --no-check --config "$CONFIG" --target "$DENO_TARGET" \
      --output "$OUT" agent/main.ts 2>&1)"; then
    built_with="deno compile"
  else
    echo "build_agent: deno compile failed: $(printf '%s' "$log" | grep -iE 'error|caused|dns|download' | head -n3 | tr '\n' ' ' || printf '%s' "$log" | head -n1)" >&2
    echo "build_agent: deno could not get its runtime (denort) for $DENO_TARGET offline; set DENORT_BIN or warm Deno's cache to use it." >&2
  fi
fi

if [ -z "$built_with" ]; then
  echo "build_agent: falling back to bun build --compile --target=$BUN_TARGET" >&2
  "$BUN" build --compile --minify --sourcemap=none --target="$BUN_TARGET" agent/main.ts --outfile "$OUT" >&2
  built_with="bun build --compile"
fi

size="$(du -h "$OUT" | cut -f1)"
echo "build_agent: built $OUT ($size, $ARCH) with $built_with" >&2
