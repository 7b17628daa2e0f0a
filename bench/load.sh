#!/usr/bin/env bash
# bench/load.sh: the side-by-side load test (docs/performance.md).
#
# Starts Sigil on the embedded default (SQLite) and on PostgreSQL, and the peer (panva's
# oidc-provider, ../shared/bench/peer), one at a time on this machine, and runs every
# scenario of sigil-load against each at every concurrency. Prints one RESULT line per run,
# writes them to $OUT/results.csv, then prints Sigil/peer ratios per scenario.
#
#   bench/load.sh                        # everything (about 15 minutes)
#   CONCURRENCY="32" DURATION=5 SCENARIOS="client-credentials" bench/load.sh
#
# Needs: cargo, node and npm (for the peer), and a PostgreSQL server at $PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres; the script creates and drops its database).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/bench/results}
concurrency=${CONCURRENCY:-"1 8 32 64"}
duration=${DURATION:-10}
scenarios=${SCENARIOS:-"client-credentials refresh auth-code userinfo introspection"}
targets=${TARGETS:-"sqlite postgres peer"}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
peer_src=${PEER_DIR:-$root/../shared/bench/peer}
port=${PORT:-3900}
mkdir -p "$out"

# Built one at a time: together, cargo would unify their dependencies' features and
# rebuild the server differently from `cargo build --release`.
cargo build --release --locked -p sigil-api --quiet
cargo build --release --locked -p sigil-bench --quiet
sigil=${SIGIL_BIN:-$root/target/release/sigil}
load=$root/target/release/sigil-load
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_ready() { # URL
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  return 1
}

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# GraphQL against the running Sigil with the management token.
gql() { # QUERY
  python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1" |
    curl -fsS -H "authorization: Bearer $admin" -H 'content-type: application/json' \
      --data-binary @- "http://127.0.0.1:$port/graphql"
}

# Sigil with the benchmark's applications: an M2M client with a role granting `read` on
# urn:bench:api (ES384 JWT access tokens), a SPA and a confidential web app, and a user.
start_sigil() { # DATABASE_URL
  export SIGIL_DATABASE_URL=$1 SIGIL_MASTER_KEY_FILE=$work/master.key SIGIL_LOG=warn
  export SIGIL_BIND=127.0.0.1:$port SIGIL_PUBLIC_URL=http://127.0.0.1:$port
  # Throttling counts failures only; the load makes none, but keep it out of the way.
  export SIGIL_SIGN_IN_MAX_FAILURES=1000000 SIGIL_CLIENT_AUTH_MAX_FAILURES=1000000
  "$sigil" serve >"$work/server.log" 2>&1 &
  server=$!
  wait_ready "http://127.0.0.1:$port/readyz"
  local boot
  boot=$("$sigil" admin bootstrap)
  admin=$(curl -fsS -u "$(echo "$boot" | json 'd["client_id"]'):$(echo "$boot" | json 'd["client_secret"]')" \
    -d grant_type=client_credentials -d resource=urn:sigil:management -d scope=all \
    "http://127.0.0.1:$port/oidc/token" | json 'd["access_token"]')
  local resource scope role
  resource=$(gql 'mutation { createApiResource(input: { name: "Bench", indicator: "urn:bench:api" }) { id } }' | json 'd["data"]["createApiResource"]["id"]')
  scope=$(gql "mutation { createResourceScope(input: { resourceId: \"$resource\", name: \"read\" }) { id } }" | json 'd["data"]["createResourceScope"]["id"]')
  role=$(gql "mutation { createRole(input: { name: \"Reader\", type: MACHINE_TO_MACHINE, scopeIds: [\"$scope\"] }) { id } }" | json 'd["data"]["createRole"]["id"]')
  local m2m
  m2m=$(gql 'mutation { createApplication(input: { name: "bench-m2m", type: MACHINE_TO_MACHINE }) { application { id } clientSecret } }')
  m2m_id=$(echo "$m2m" | json 'd["data"]["createApplication"]["application"]["id"]')
  m2m_secret=$(echo "$m2m" | json 'd["data"]["createApplication"]["clientSecret"]')
  gql "mutation { assignApplicationRoles(applicationId: \"$m2m_id\", roleIds: [\"$role\"]) { id } }" >/dev/null
  spa_id=$(gql 'mutation { createApplication(input: { name: "bench-spa", type: SPA, redirectUris: ["http://127.0.0.1:9999/cb"] }) { application { id } } }' | json 'd["data"]["createApplication"]["application"]["id"]')
  local web
  web=$(gql 'mutation { createApplication(input: { name: "bench-web", type: TRADITIONAL, redirectUris: ["http://127.0.0.1:9999/cb"] }) { application { id } clientSecret } }')
  web_id=$(echo "$web" | json 'd["data"]["createApplication"]["application"]["id"]')
  web_secret=$(echo "$web" | json 'd["data"]["createApplication"]["clientSecret"]')
  gql 'mutation { createUser(input: { username: "bench", password: "bench-password-1" }) { id } }' >/dev/null
  issuer=http://127.0.0.1:$port/oidc
}

start_peer() {
  cp -r "$peer_src" "$work/peer"
  chmod -R u+w "$work/peer"
  (cd "$work/peer" && npm install --silent --no-audit --no-fund >/dev/null)
  PORT=$port node "$work/peer/server.mjs" >"$work/server.log" 2>&1 &
  server=$!
  issuer=http://127.0.0.1:$port/oidc
  wait_ready "$issuer/.well-known/openid-configuration"
  m2m_id=bench-m2m m2m_secret=bench-m2m-secret spa_id=bench-spa web_id=bench-web web_secret=bench-web-secret
}

stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$server/status"; }

# The projection lag histogram's buckets (le -> count) as one line, for lag_p99_ms.
lag_buckets() {
  curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null |
    awk -F'[{}"]' '/^sigil_projection_lag_seconds_bucket/ { split($NF, v, " "); printf "%s=%s ", $5, v[1] }'
}

# p99 of the lag over one run, from the difference of two bucket lines: the upper bound of
# the first bucket holding 99% of the events applied during the run, in ms.
lag_p99_ms() { # BEFORE AFTER
  python3 - "$1" "$2" <<'PY'
import sys
def parse(text):  # every runner's series, summed bucket by bucket
    sums = {}
    for kv in text.split():
        k, v = kv.split("=")
        sums[k] = sums.get(k, 0) + float(v)
    return sums
before, after = parse(sys.argv[1]), parse(sys.argv[2])
delta = sorted(((float("inf") if k == "+Inf" else float(k)), after[k] - before.get(k, 0)) for k in after)
total = delta[-1][1] if delta else 0
print(next((f"{le * 1000:g}" for le, n in delta if total and n >= 0.99 * total), "NA"))
PY
}

run() { # TARGET SCENARIO CONCURRENCY
  local args=(--scenario "$2" --issuer "$issuer" --concurrency "$3" --duration "$duration")
  case $2 in
    client-credentials) args+=(--client-id "$m2m_id" "--client-secret=$m2m_secret" --scope read --resource urn:bench:api) ;;
    refresh | auth-code | userinfo) args+=(--client-id "$spa_id") ;;
    introspection) args+=(--client-id "$web_id" "--client-secret=$web_secret") ;;
  esac
  local line before="" lag=NA
  [ "$1" != peer ] && before=$(lag_buckets)
  line=$("$load" "${args[@]}" | grep '^RESULT') || line="RESULT scenario=$2 concurrency=$3 rps=0 p50_ms=0 p99_ms=0 ok=0 errors=failed"
  [ "$1" != peer ] && lag=$(lag_p99_ms "$before" "$(lag_buckets)")
  echo "$line target=$1 rss_mb=$(rss_mb) lag_p99_ms=$lag" | tee -a "$out/results.txt"
}

: >"$out/results.txt"
for target in $targets; do
  case $target in
    sqlite) start_sigil "sqlite://$work/sigil.db" ;;
    postgres)
      db=sigil_bench_$$
      psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
      start_sigil "${pg_url%/*}/$db"
      ;;
    peer) start_peer ;;
  esac
  echo "RESULT scenario=idle concurrency=0 rps=0 p50_ms=0 p99_ms=0 ok=0 errors=0 target=$target rss_mb=$(rss_mb)" | tee -a "$out/results.txt"
  for scenario in $scenarios; do
    for c in $concurrency; do
      run "$target" "$scenario" "$c"
    done
  done
  stop_server
  [ "$target" = postgres ] && psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db"
  rm -f "$work"/sigil.db*
done

python3 "$root/bench/report.py" "$out/results.txt" "$out"
