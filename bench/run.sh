#!/usr/bin/env bash
# callbackd benchmark: one command, from a clean clone, as root on Debian.
#
#   bash bench/run.sh            full run (about 40 minutes on a quiet machine)
#   bash bench/run.sh --quick    short run (about 15 minutes): shorter phases and smaller backlogs
# (the history stage adds about 20 minutes to either: it writes 1,000,000 callbacks into history three times)
#
# Stages: refs (wrk, pgbench, batched writes, best-effort dispatcher), fixed (open-loop terminal updates at 500,
# 1,000 and 2,000/s through SQL and the API), max (maximum rates under JFR), evbus (a producer JVM on the clustered
# event bus: new terminal runs at 500 and 1,000/s and with 64 outstanding; CPU per event), drain (a backlog drained
# to one receiver with callbackd's default settings), dead (a dead destination's backlog beside live traffic), cold (the first
# seconds after start at 500/s, with several JVM options), backlog (1,000,000 pending callbacks: RSS, then drain),
# history (operators' reads and a bulk redelivery with 120,000 and 1,000,000 finished callbacks in history, through the
# API; then 1,000,000 expired ones purged, as whole partitions and in batches, beside a drain),
# apicpu (callbackd's CPU per API request at saturation: create, terminal PATCH, whole run, beside a trivial Vert.x
# server and the same writes straight to PostgreSQL; BENCH_APICPU_JFR=1 records it under JFR, profile-apicpu.md;
# BENCH_APICPU_WARM_SECS sets its warm-up).
# Options: --skip-apt (no apt-get), --skip-build (reuse target/callbackd.jar and bench/target/callbackd-bench.jar),
#          --only refs,fixed,max,evbus,drain,dead,cold,backlog,history,apicpu (run only these stages; the report
#          shows what exists),
#          --commit REV (benchmark callbackd as committed at REV, exported with `git archive` into /var/tmp, instead of
#          the working tree: useful while others have unfinished changes in src/main; git is only read),
#          --out-dir DIR (write the raw results into DIR, e.g. an earlier run's, to redo some stages with --only; the
#          report then covers every stage found there).
# BENCH_QUIET_TRIES (default 12, quick 0): how many 13-second looks for a quiet machine before each stage.
# BENCH_CALLBACKD_JAVA_OPTS: JVM options for callbackd (default -Xmx256m, as the README's "Sizing" advises).
# BENCH_COLD_VARIANTS: the cold-start stage's JVM variants, "name|options;name|options" (default: see stage_cold);
# BENCH_COLD_ROUNDS: how many times each variant runs, the rounds interleaved (default 2, quick 1).
# BENCH_PLATFORM_RUNS: finished runs in the platform's runs table at the start of each stage (default 200000).
# BENCH_EVBUS_JFR=1: the evbus stage records callbackd under JFR, profile-evbus.md (its 500/s phase).
# BENCH_PG_CONF: more lines for postgresql.conf (e.g. auto_explain settings to catch slow statements' plans).
#
# It installs what it needs from Debian (wrk, postgresql, jq), builds callbackd (mvn -B -q package -DskipTests) and the
# load generator (bench/pom.xml, not part of the root build), starts its own PostgreSQL as the postgres user with
# normal durability (fsync, synchronous_commit and full_page_writes on, every table logged), a fast receiver, and
# callbackd pointed at them, all on 127.0.0.1. It prints a table and writes bench/results/latest.json and
# bench/results/latest.md, the JFR profile summary bench/results/profile-max.md, raw per-phase JSON under
# bench/results/runs/ and logs under bench/results/logs/. Every loop is bounded in count and time, and every process
# it starts is stopped by its pid at exit.
set -euo pipefail

MODE=full
SKIP_APT=0
SKIP_BUILD=0
ONLY=all
COMMIT=
OUT_DIR=
QUIET_TRIES=${BENCH_QUIET_TRIES:-}
PLATFORM_RUNS=${BENCH_PLATFORM_RUNS:-200000}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --skip-apt) SKIP_APT=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --only) ONLY=${2:?--only needs a list}; shift ;;
    --commit) COMMIT=${2:?--commit needs a git revision}; shift ;;
    --out-dir) OUT_DIR=${2:?--out-dir needs a directory}; shift ;;
    *) echo "unknown option $1 (use --quick, --skip-apt, --skip-build, --only refs,fixed,max,evbus,drain,dead,cold,backlog,history,apicpu," \
         "--commit REV, --out-dir DIR)" >&2
       exit 2 ;;
  esac
  shift
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
RESULTS=$BENCH/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT_DIR:-$RESULTS/runs/$STAMP-$MODE}
LOGS=$RESULTS/logs
RUNDIR=/var/tmp/callbackd-bench
PGDATA=$RUNDIR/pgdata
PG_PORT=55432
API_PORT=18080
RCV_PORT=19100
RCV_PORT_LATE=19101
DEAD_PORT=19109   # nothing listens here: the dead destination (connection refused)
EVBUS_CB_PORT=15701        # the event-bus stage: callbackd's Hazelcast member port
EVBUS_PRODUCER_PORT=15702  # and the producer's
PG_URL="postgresql://bench:bench@127.0.0.1:$PG_PORT/callbackd"
JDBC="jdbc:postgresql://127.0.0.1:$PG_PORT/callbackd"
T_START=$(date +%s)

if [ "$(id -u)" != 0 ]; then
  echo "run as root: it installs Debian packages and starts PostgreSQL as the postgres user" >&2
  exit 1
fi

if [ -z "$QUIET_TRIES" ]; then
  if [ "$MODE" = quick ]; then QUIET_TRIES=0; else QUIET_TRIES=12; fi
fi
if [ "$MODE" = quick ]; then
  REF_SECS=3; PHASE_SECS=5; WARM_SECS=15; MAX_SECS=8
  BACKLOG_ROWS=100000; BACKLOG_TRIGGER_ROWS=20000; BACKLOG_INSERT_MAX=90; BACKLOG_PENDING=8; BACKLOG_DRAIN=60
  DRAIN_ROWS=50000; DRAIN_MAX=90; DEAD_ROWS=20000; DEAD_SECS=20; COLD_SECS=30; SELF_WARM_SECS=5; TRAIN_SECS=10
  COLD_ROUNDS=${BENCH_COLD_ROUNDS:-1}
  HISTORY_ROWS="120000 1000000"; HISTORY_REPS=20; HISTORY_REDELIVER_REPS=5; HISTORY_OLD_ROWS=1000000
  HISTORY_DRAIN_ROWS=120000
else
  REF_SECS=10; PHASE_SECS=20; WARM_SECS=30; MAX_SECS=30
  BACKLOG_ROWS=1000000; BACKLOG_TRIGGER_ROWS=50000; BACKLOG_INSERT_MAX=300; BACKLOG_PENDING=30; BACKLOG_DRAIN=400
  DRAIN_ROWS=200000; DRAIN_MAX=300; DEAD_ROWS=100000; DEAD_SECS=60; COLD_SECS=40; SELF_WARM_SECS=10; TRAIN_SECS=20
  COLD_ROUNDS=${BENCH_COLD_ROUNDS:-2}
  HISTORY_ROWS="120000 1000000"; HISTORY_REPS=50; HISTORY_REDELIVER_REPS=10; HISTORY_OLD_ROWS=1000000
  HISTORY_DRAIN_ROWS=300000
fi
# Seconds: the purge stage's CALLBACKD_PURGE_INTERVAL. The first pass comes that long after the retention verticle
# started (during start-up, which takes 20-40 s on a busy machine): long enough for the drain to be resumed before it.
HISTORY_PURGE_INTERVAL=45

log() { printf '[%s +%4ss] %s\n' "$(date -u +%H:%M:%S)" "$(( $(date +%s) - T_START ))" "$*"; }

# ---------------------------------------------------------------- processes we start, stopped at exit by pid
PIDS=()
PG_STARTED=0
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null; fi
  done
  for _ in $(seq 1 100); do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  if [ $PG_STARTED = 1 ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1
    cp "$RUNDIR/postgresql.log" "$LOGS/postgresql.log" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in the background and waits for it, so that a signal to this script is handled at once (the trap
# then stops it by pid). Output goes to the terminal and to the log.
run() {
  "$@" > >(tee -a "$LOGS/loadgen.log") 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait "$pid"
}

for port in $PG_PORT $API_PORT $RCV_PORT $RCV_PORT_LATE $DEAD_PORT $EVBUS_CB_PORT $EVBUS_PRODUCER_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "127.0.0.1:$port is already in use: stop what listens there (another benchmark run?) and try again" >&2
    exit 1
  fi
done

# ---------------------------------------------------------------- packages
if [ $SKIP_APT = 0 ]; then
  log "apt-get update, then install what is missing (wrk, postgresql, jq, maven, a JDK with jfr)"
  timeout 600 apt-get update -qq
  need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v jq >/dev/null || need+=(jq)
  command -v curl >/dev/null || need+=(curl)
  command -v mvn >/dev/null || need+=(maven)
  command -v jfr >/dev/null || need+=(openjdk-17-jdk-headless)
  ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# ---------------------------------------------------------------- build
mkdir -p "$OUT" "$LOGS" "$RUNDIR"
# Redoing stages in an earlier run's directory: that run's environment is kept beside this one's, and the report
# names it for the stages it measured.
if [ -n "$OUT_DIR" ] && [ -f "$OUT/env.json" ]; then
  mv "$OUT/env.json" "$OUT/env-before-$(jq -r '.started_utc // "unknown"' "$OUT/env.json").json"
fi
: >"$LOGS/loadgen.log"
CB_SRC=$ROOT
if [ -n "$COMMIT" ]; then
  CB_SRC=$RUNDIR/src-export
  rm -rf "$CB_SRC"
  mkdir -p "$CB_SRC"
  git -C "$ROOT" archive --format=tar "$COMMIT" | tar -xf - -C "$CB_SRC"
  log "callbackd source: git archive of $COMMIT ($(git -C "$ROOT" rev-parse --short "$COMMIT")) in $CB_SRC"
fi
if [ $SKIP_BUILD = 0 ] || [ -n "$COMMIT" ]; then
  log "building callbackd (mvn -B -q package -DskipTests in $CB_SRC) and the load generator (bench/pom.xml)"
  (cd "$CB_SRC" && mvn -B -q package -DskipTests)
fi
if [ $SKIP_BUILD = 0 ]; then
  (cd "$ROOT" && mvn -B -q -f bench/pom.xml package)
fi
# Private copies: other engineers may rebuild target/ while the benchmark runs.
cp "$CB_SRC/target/callbackd.jar" "$RUNDIR/callbackd.jar"
cp "$BENCH/target/callbackd-bench.jar" "$RUNDIR/callbackd-bench.jar"
LOADGEN_JAVA=(java -Xms512m -Xmx2g -XX:+UseParallelGC -jar "$RUNDIR/callbackd-bench.jar")
# BENCH_CALLBACKD_JAVA_OPTS: JVM options for callbackd, recorded in the results. The default bounds the heap as the
# README's "Sizing" advises: callbackd holds at most max_in_flight callbacks, however long the queue.
read -r -a CB_JAVA_OPTS <<<"${BENCH_CALLBACKD_JAVA_OPTS--Xmx256m}"
# What start_callbackd runs: these JVM options (the cold-start variants change them for a while), and the settings
# of bench/callbackd.env ("bench") or callbackd's own defaults ("defaults").
CB_JAVA_RUN=("${CB_JAVA_OPTS[@]}")
CB_SETTINGS=bench

# ---------------------------------------------------------------- PostgreSQL, as the postgres user, own data dir
log "starting PostgreSQL ($("$PGBIN/postgres" --version)) on 127.0.0.1:$PG_PORT, data in $PGDATA"
if [ -f "$PGDATA/postmaster.pid" ]; then
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
fi
rm -rf "$PGDATA"
mkdir -p "$PGDATA"
chown postgres "$RUNDIR" "$PGDATA"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1
# Normal durability: fsync, synchronous_commit and full_page_writes stay on, every table is logged. Memory and
# checkpoint spacing are sized for this machine, as on a server; pg_stat_statements shows the statements' costs.
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUNDIR'
max_connections = 400
shared_buffers = 2GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 512MB
wal_buffers = 64MB
max_wal_size = 16GB
min_wal_size = 2GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 1000
track_io_timing = on
EOF
if [ -n "${BENCH_PG_CONF:-}" ]; then
  printf '%s\n' "$BENCH_PG_CONF" >>"$PGDATA/postgresql.conf"
fi
# Port 55432 lies in Linux's ephemeral range: another program's outgoing connection can hold it for a moment (the
# start then fails with "Address already in use"); a few bounded retries.
for try in 1 2 3 4 5; do
  if runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$RUNDIR/postgresql.log" -w -t 120 start >/dev/null; then
    break
  fi
  [ "$try" = 5 ] && { echo "PostgreSQL did not start; see $RUNDIR/postgresql.log" >&2; exit 1; }
  log "PostgreSQL did not start (try $try): $(tail -1 "$RUNDIR/postgresql.log"); trying again"
  sleep 3
done
PG_STARTED=1
PSQL=(runuser -u postgres -- "$PGBIN/psql" -h "$RUNDIR" -p $PG_PORT -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE ROLE bench LOGIN SUPERUSER PASSWORD 'bench'" \
  -c "CREATE DATABASE callbackd OWNER bench"
"${PSQL[@]}" -d callbackd -c "CREATE EXTENSION pg_stat_statements"
POSTMASTER_PID=$(head -1 "$PGDATA/postmaster.pid")
PG_SETTINGS=$("${PSQL[@]}" -d callbackd -At -c "SELECT json_object_agg(name, setting) FROM pg_settings WHERE name IN
  ('fsync','synchronous_commit','full_page_writes','wal_level','wal_sync_method','shared_buffers','max_connections',
   'max_wal_size','checkpoint_timeout','wal_buffers','server_version','commit_delay','work_mem','effective_cache_size')")

# ---------------------------------------------------------------- receiver
log "starting the receiver (Vert.x, 204) on 127.0.0.1:$RCV_PORT"
"${LOADGEN_JAVA[@]}" receiver --port $RCV_PORT --instances 2 --max-seconds 3600 >"$LOGS/receiver.log" 2>&1 &
RCV_PID=$!
PIDS+=("$RCV_PID")
for _ in $(seq 1 150); do
  curl -sf -m 2 "http://127.0.0.1:$RCV_PORT/_stats" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf -m 5 "http://127.0.0.1:$RCV_PORT/_stats" >/dev/null

# ---------------------------------------------------------------- callbackd
# bench/callbackd.env holds the settings; a CALLBACKD_* variable already set in the environment wins (to try others).
BENCH_ENV_KEYS=()
while IFS= read -r line; do
  case "$line" in
    CALLBACKD_*=*) key=${line%%=*}; BENCH_ENV_KEYS+=("$key"); [ -n "${!key+x}" ] || export "$line" ;;
  esac
done <"$BENCH/callbackd.env"
export CALLBACKD_PG_URL="$PG_URL" CALLBACKD_HTTP_HOST=127.0.0.1 CALLBACKD_HTTP_PORT=$API_PORT
CB_PID=
CB_READY_MS=
CB_EXTRA_ENV=()   # more VAR=value for callbackd (the history stage's short purge interval)
start_callbackd() { # name [jfr-file]
  local name=$1 jfr=${2:-} t0 k
  # env runs java in its own place (exec), so $! is callbackd's pid.
  local envcmd=(env)
  if [ "$CB_SETTINGS" = defaults ]; then
    for k in "${BENCH_ENV_KEYS[@]}"; do
      case "$k" in CALLBACKD_ALLOW_PRIVATE_DESTINATIONS|CALLBACKD_LOG_FORMAT) ;; *) envcmd+=(-u "$k") ;; esac
    done
  fi
  envcmd+=("${CB_EXTRA_ENV[@]}")
  if [ -n "$jfr" ]; then
    envcmd+=("JAVA_TOOL_OPTIONS=-XX:StartFlightRecording=filename=$jfr,settings=profile,dumponexit=true")
  fi
  rm -f "$RUNDIR/callbackd.pid"
  t0=$(date +%s%N)
  "${envcmd[@]}" java "${CB_JAVA_RUN[@]}" -jar "$RUNDIR/callbackd.jar" >"$LOGS/callbackd-$name.log" 2>&1 &
  CB_PID=$!
  PIDS+=("$CB_PID")
  echo "$CB_PID" >"$RUNDIR/callbackd.pid"
  for _ in $(seq 1 1200); do
    # A time limit per look: a request that reaches the server in its first milliseconds can go unanswered (Vert.x
    # 5.0.8 creates the server's metrics only after the bind, and a connection accepted before that fails inside).
    curl -sf -m 2 "http://127.0.0.1:$API_PORT/health/ready" >/dev/null 2>&1 && break
    if ! kill -0 "$CB_PID" 2>/dev/null; then
      echo "callbackd exited; see $LOGS/callbackd-$name.log" >&2
      tail -20 "$LOGS/callbackd-$name.log" >&2
      exit 1
    fi
    sleep 0.05
  done
  curl -sf -m 5 "http://127.0.0.1:$API_PORT/health/ready" >/dev/null
  CB_READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  log "callbackd ($name, $CB_SETTINGS settings, java ${CB_JAVA_RUN[*]}) ready after ${CB_READY_MS} ms, pid $CB_PID," \
    "RSS $(awk '/VmRSS/ {print int($2/1024)" MB"}' "/proc/$CB_PID/status")"
}
stop_callbackd() {
  [ -n "$CB_PID" ] || return 0
  kill -TERM "$CB_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$CB_PID" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$CB_PID" 2>/dev/null && kill -KILL "$CB_PID" 2>/dev/null || true
  wait "$CB_PID" 2>/dev/null || true
  CB_PID=
}
common_args() {
  echo --jdbc "$JDBC" --pg-host 127.0.0.1 --pg-port $PG_PORT --pg-db callbackd --pg-user bench --pg-password bench \
    --postmaster-pid "$POSTMASTER_PID" --receiver-pid "$RCV_PID" --callbackd-pid "${CB_PID:--1}"
}
# Every stage starts from the same tables, so that its numbers do not depend on what ran before it.
# (callbackd.deliveries is a view of the live queue and the history; destinations are rows of their own.)
# A platform's runs table is not empty: it holds the runs of earlier days, and autovacuum has analyzed it. Each
# stage starts from such a table (BENCH_PLATFORM_RUNS finished runs without a callback_url, so nothing is queued
# for them, then ANALYZE) and from emptied callbackd tables, as a new deployment has them. An emptied runs table
# measured something else: PostgreSQL keeps a prepared statement's plan made while the table was nearly empty (a
# sequential scan of runs) until autovacuum analyzes the table again, up to a minute later, while the table grows
# by 500-2,000 runs a second.
empty_tables() {
  "${PSQL[@]}" -d callbackd -c "TRUNCATE callbackd.attempts, callbackd.queue, callbackd.history,
    callbackd.destinations, callbackd.run_writebacks, runs" \
    -c "INSERT INTO runs (id, status, agent_id, completed_at, stop_reason, metadata_, created_at, updated_at)
        SELECT 'run-earlier-' || g, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, 'agent-' || (g % 997),
               now() - make_interval(secs => g), 'end_turn', '{\"source\": \"earlier\"}',
               now() - make_interval(secs => g + 30), now() - make_interval(secs => g)
        FROM generate_series(1, $PLATFORM_RUNS) g" \
    -c "ANALYZE runs" -c "CHECKPOINT"
}
suite() { # spec [more loadgen options]
  local spec=$1
  shift
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" suite $(common_args) --spec "$spec" --api "http://127.0.0.1:$API_PORT" \
    --hook "http://127.0.0.1:$RCV_PORT/hook" --receiver "http://127.0.0.1:$RCV_PORT" --out-dir "$OUT" \
    --settle 60 --max-runs 1500000 "$@"
}

# ---------------------------------------------------------------- references
stage_refs() {
  log "reference: wrk POSTing to the receiver (${REF_SECS}s, 1 thread, 64 connections, after a 3s warm-up)"
  wrk -t1 -c64 -d3s -s "$BENCH/wrk-post.lua" "http://127.0.0.1:$RCV_PORT/hook" >/dev/null 2>&1 || true
  wrk -t1 -c64 -d"${REF_SECS}s" --latency -s "$BENCH/wrk-post.lua" "http://127.0.0.1:$RCV_PORT/hook" >"$OUT/wrk.txt" 2>&1
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk.txt")
  jq -n --arg rps "$rps" --arg p50 "$p50" --arg p99 "$p99" --arg s "$REF_SECS" \
    '{what: "wrk -t1 -c64 POST of a callback-shaped body to the receiver", requests_per_second: ($rps|tonumber),
      latency_p50: $p50, latency_p99: $p99, seconds: ($s|tonumber)}' >"$OUT/ref-wrk.json"
  log "  wrk: $rps requests/s"

  log "reference: pgbench single-row UPDATE transactions, 64 clients, without and with a pg_notify trigger (${REF_SECS}s each)"
  "${PSQL[@]}" -d callbackd <<'EOF'
CREATE TABLE bench_pgb (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO bench_pgb (id) SELECT generate_series(1, 100000);
CREATE TABLE bench_pgb_notify (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO bench_pgb_notify (id) SELECT generate_series(1, 100000);
CREATE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('bench_channel', ''); RETURN NULL; END $$;
CREATE TRIGGER bench_notify AFTER UPDATE ON bench_pgb_notify FOR EACH STATEMENT EXECUTE FUNCTION bench_notify();
VACUUM ANALYZE bench_pgb;
VACUUM ANALYZE bench_pgb_notify;
EOF
  printf '\\set id random(1, 100000)\nUPDATE bench_pgb SET n = n + 1 WHERE id = :id;\n' >"$RUNDIR/pgb-plain.sql"
  printf '\\set id random(1, 100000)\nUPDATE bench_pgb_notify SET n = n + 1 WHERE id = :id;\n' >"$RUNDIR/pgb-notify.sql"
  chmod a+r "$RUNDIR"/pgb-*.sql
  pgb() { PGPASSWORD=bench "$PGBIN/pgbench" -h 127.0.0.1 -p $PG_PORT -U bench -n -c 64 -j 2 -T "$REF_SECS" -f "$1" callbackd 2>&1; }
  pgb "$RUNDIR/pgb-plain.sql" >"$OUT/pgbench-plain.txt"
  pgb "$RUNDIR/pgb-notify.sql" >"$OUT/pgbench-notify.txt"
  local a b la lb
  a=$(awk -F'= ' '/^tps/ {print int($2)}' "$OUT/pgbench-plain.txt")
  b=$(awk -F'= ' '/^tps/ {print int($2)}' "$OUT/pgbench-notify.txt")
  la=$(awk -F'= ' '/latency average/ {print $2}' "$OUT/pgbench-plain.txt")
  lb=$(awk -F'= ' '/latency average/ {print $2}' "$OUT/pgbench-notify.txt")
  jq -n --arg a "$a" --arg b "$b" --arg la "$la" --arg lb "$lb" \
    '{what: "pgbench -c 64 -j 2: one single-row UPDATE per transaction (each commit waits for its WAL flush); the second table has a statement-level trigger doing pg_notify(channel, empty payload), as callbackd_work_added does",
      tps_plain: ($a|tonumber), tps_with_pg_notify_trigger: ($b|tonumber),
      latency_plain: $la, latency_with_pg_notify_trigger: $lb}' >"$OUT/ref-pgbench.json"
  "${PSQL[@]}" -d callbackd -c "DROP TABLE bench_pgb; DROP TABLE bench_pgb_notify; DROP FUNCTION bench_notify()"
  log "  pgbench: $a commits/s plain, $b commits/s with a pg_notify trigger"

  log "reference: JDBC batched heap-only UPDATEs of a table shaped like callbackd.queue (${REF_SECS}s)"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" pgref $(common_args) --rows 200000 --batch 500 --threads 4 --seconds "$REF_SECS" \
    --out "$OUT/ref-pgbatch.json"

  log "reference: best-effort dispatcher (new client per callback, one POST, one write-back, no retry; ${REF_SECS}s)"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" besteffort $(common_args) --concurrency 64 --seconds "$REF_SECS" --rows 300000 \
    --hook "http://127.0.0.1:$RCV_PORT/hook" --out "$OUT/ref-besteffort.json"
}

# ---------------------------------------------------------------- fixed offered rates, SQL and API
# Open loop: every terminal update is sent at its scheduled moment. Each measured phase also counts the rows written
# and PostgreSQL's CPU per delivered callback (12 s pauses around it let PostgreSQL flush its table counters).
stage_fixed() {
  empty_tables
  start_callbackd fixed
  log "fixed offered rates through SQL, then through the API (${PHASE_SECS}s each, after ${WARM_SECS}s warm-ups)"
  suite "warmsql:sql:1000:$WARM_SECS,sql500:sql:500:$PHASE_SECS,sql1000:sql:1000:$PHASE_SECS,sql2000:sql:2000:$PHASE_SECS,warmapi:api:1000:$WARM_SECS,api500:api:500:$PHASE_SECS,api1000:api:1000:$PHASE_SECS,api2000:api:2000:$PHASE_SECS"
  stop_callbackd
}

# ---------------------------------------------------------------- maximum rate with a flight recording
stage_max() {
  local jfr=$RESULTS/callbackd-max.jfr
  rm -f "$jfr"
  empty_tables
  start_callbackd max "$jfr"
  log "maximum rate through SQL (64 clients, ${MAX_SECS}s), callbackd under JFR"
  suite "warmmax:sql:1000:$WARM_SECS,sqlmax:sql:max:$MAX_SECS:64:$((MAX_SECS * 8000))"
  stop_callbackd
  log "summarizing the flight recording"
  run "${LOADGEN_JAVA[@]}" jfr --file "$jfr" --out-md "$OUT/profile-max.md" --out-json "$OUT/profile-max.json" \
    --title "maximum rate through SQL terminal updates (sqlmax)"

  jfr=$RESULTS/callbackd-api.jfr
  rm -f "$jfr"
  empty_tables
  start_callbackd maxapi "$jfr"
  log "maximum rate through the API (128 clients, ${MAX_SECS}s), callbackd under JFR"
  suite "warmmaxapi:api:1000:$WARM_SECS,apimax:api:max:$MAX_SECS:128"
  stop_callbackd
  run "${LOADGEN_JAVA[@]}" jfr --file "$jfr" --out-md "$OUT/profile-api.md" --out-json "$OUT/profile-api.json" \
    --title "maximum rate through the API (apimax)"
}

# ---------------------------------------------------------------- a backlog drained with the default settings
# callbackd with its own defaults (one dispatcher, 32 in flight per destination), warmed up; its destination paused
# while the backlog is written straight into the queue, then resumed: POSTs/s against the receiver's wrk rate.
stage_drain() {
  empty_tables
  CB_SETTINGS=defaults
  start_callbackd drain-defaults
  log "default settings: warm-up (${WARM_SECS}s at 1,000/s), then a backlog of $DRAIN_ROWS drained to the receiver"
  suite "warmdefaults:sql:1000:$WARM_SECS"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" backlog $(common_args) --step warmdrain --rows "$DRAIN_ROWS" --prefix drain \
    --hook "http://127.0.0.1:$RCV_PORT/hook" --receiver "http://127.0.0.1:$RCV_PORT" --drain-seconds "$DRAIN_MAX" \
    --out "$OUT/drain-defaults.json"
  stop_callbackd
  CB_SETTINGS=bench
}

# ---------------------------------------------------------------- a dead destination beside live traffic
# A large backlog of due callbacks to a port nothing listens on (connection refused), with a lifetime long enough
# not to end during the stage; live terminal updates at 500/s to the receiver beside it.
stage_dead() {
  empty_tables
  log "dead destination: $DEAD_ROWS due callbacks to 127.0.0.1:$DEAD_PORT (connection refused), callbackd stopped"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" backlog $(common_args) --step insert --prefix dead --rows "$DEAD_ROWS" --chunk 50000 \
    --trigger-rows 0 --lifetime-hours 48 --insert-seconds 300 --hook "http://127.0.0.1:$DEAD_PORT/hook" \
    --out "$OUT/dead-insert.json"
  start_callbackd dead
  log "dead destination: warm-up, then live traffic at 500/s for ${DEAD_SECS}s"
  suite "warmdead:sql:1000:$WARM_SECS,deadlive:sql:500:$DEAD_SECS" --dead-prefix dead \
    --dead-destination "http://127.0.0.1:$DEAD_PORT"
  stop_callbackd
}

# ---------------------------------------------------------------- the first seconds after start, JVM variants
# Each variant: empty tables; the load generator warms itself up (terminal updates without callbacks), then callbackd
# starts with the variant's JVM options and, from the moment it answers ready, terminal updates arrive at 500/s.
# The AppCDS archive comes from a training run (-XX:ArchiveClassesAtExit, load through SQL and the API, a normal stop).
stage_cold() {
  local jsa=$RUNDIR/callbackd.jsa variants v name opts lg round phase ready_file=$RUNDIR/loadgen-ready
  rm -f "$jsa"
  empty_tables
  CB_JAVA_RUN=("${CB_JAVA_OPTS[@]}" "-XX:ArchiveClassesAtExit=$jsa")
  start_callbackd cds-training
  log "AppCDS training run (${TRAIN_SECS}s through SQL, then the API), archive written at exit"
  suite "trainsql:sql:1000:$TRAIN_SECS,trainapi:api:300:$(( TRAIN_SECS / 2 ))" --writes false
  stop_callbackd
  CB_JAVA_RUN=("${CB_JAVA_OPTS[@]}")
  if [ -s "$jsa" ]; then
    log "  archive $jsa: $(( $(stat -c %s "$jsa") / 1048576 )) MB"
  else
    log "  no archive was written (see $LOGS/callbackd-cds-training.log): the AppCDS variants will fail to start"
  fi
  rm -f "$OUT"/phase-train*.json
  variants=${BENCH_COLD_VARIANTS:-"base|${CB_JAVA_OPTS[*]};c1|${CB_JAVA_OPTS[*]} -XX:TieredStopAtLevel=1;cds|${CB_JAVA_OPTS[*]} -XX:SharedArchiveFile=$jsa;cdsc1|${CB_JAVA_OPTS[*]} -XX:SharedArchiveFile=$jsa -XX:TieredStopAtLevel=1;serialgc|${CB_JAVA_OPTS[*]} -XX:+UseSerialGC"}
  IFS=';' read -r -a variants <<<"$variants"
  for round in $(seq 1 "$COLD_ROUNDS"); do
    for v in "${variants[@]}"; do
      name=${v%%|*}
      opts=${v#*|}
      phase="cold${name}r${round}"
      wait_for_quiet
      empty_tables
      rm -f "$ready_file"
      read -r -a CB_JAVA_RUN <<<"$opts"
      log "cold start '$name', round $round (java $opts): the platform warms up (its callbacks removed), then callbackd starts;" \
        "500/s for ${COLD_SECS}s from ready"
      # shellcheck disable=SC2046
      "${LOADGEN_JAVA[@]}" suite $(common_args) --spec "$phase:sql:500:$COLD_SECS" --api "http://127.0.0.1:$API_PORT" \
        --hook "http://127.0.0.1:$RCV_PORT/hook" --receiver "http://127.0.0.1:$RCV_PORT" --out-dir "$OUT" \
        --settle 60 --writes false --window-seconds 20 --self-warm-seconds "$SELF_WARM_SECS" \
        --ready-file "$ready_file" --await-ready "http://127.0.0.1:$API_PORT/health/ready" \
        --callbackd-pid-file "$RUNDIR/callbackd.pid" > >(tee -a "$LOGS/loadgen.log") 2>&1 &
      lg=$!
      PIDS+=("$lg")
      for _ in $(seq 1 1200); do
        [ -e "$ready_file" ] && break
        kill -0 "$lg" 2>/dev/null || break
        sleep 0.1
      done
      if [ ! -e "$ready_file" ]; then
        echo "the load generator did not get ready for the cold start '$name'; see $LOGS/loadgen.log" >&2
        exit 1
      fi
      start_callbackd "cold-$name-r$round"
      jq -n --arg v "$name" --arg o "$opts" --arg ms "$CB_READY_MS" --arg r "$round" --arg p "$phase" \
        '{variant: $v, round: ($r|tonumber), jvm_opts: $o, start_to_ready_ms: ($ms|tonumber), phase: $p}' \
        >"$OUT/cold-$name-r$round.json"
      wait "$lg"
      stop_callbackd
    done
  done
  CB_JAVA_RUN=("${CB_JAVA_OPTS[@]}")
}

# ---------------------------------------------------------------- backlog of pending callbacks
stage_backlog() {
  empty_tables
  start_callbackd backlog-idle
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" backlog $(common_args) --step idle --idle-seconds 5 --out "$OUT/backlog-idle.json"
  stop_callbackd
  log "backlog: $BACKLOG_ROWS finished runs inserted with SQL (callbackd stopped) towards a receiver not up yet" \
    "(the first $BACKLOG_TRIGGER_ROWS through the trigger, the rest straight into the queue)"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" backlog $(common_args) --step insert --rows "$BACKLOG_ROWS" --chunk 50000 \
    --trigger-rows "$BACKLOG_TRIGGER_ROWS" --lifetime-hours 48 \
    --insert-seconds "$BACKLOG_INSERT_MAX" --hook "http://127.0.0.1:$RCV_PORT_LATE/hook" --out "$OUT/backlog-insert.json"
  start_callbackd backlog
  log "backlog: callbackd up with the backlog; receiver down ${BACKLOG_PENDING}s, then up: drain for up to ${BACKLOG_DRAIN}s"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" backlog $(common_args) --step run --pending-seconds "$BACKLOG_PENDING" \
    --drain-seconds "$BACKLOG_DRAIN" --listen-port $RCV_PORT_LATE \
    --receiver "http://127.0.0.1:$RCV_PORT" --out "$OUT/backlog-run.json"
  # Where callbackd's memory is: the Java heap (committed vs used) and metaspace, after the drain.
  jcmd "$CB_PID" GC.heap_info >"$OUT/backlog-heap-info.txt" 2>&1 || true
  stop_callbackd
}

# ---------------------------------------------------------------- history: reads at scale, purge beside a drain
# Reads: history filled with SQL (callbackd stopped; finished over the last 29.5 days, 100 destinations, ~10% failed,
# one attempt each; partitions as callbackd would have cut them), VACUUM ANALYZE, callbackd started with its
# default retention (30 days, a pass an hour), then the operators' reads through its HTTP API. Purge: the same
# callbackd restarted with CALLBACKD_PURGE_INTERVAL=${HISTORY_PURGE_INTERVAL}s beside a drain of a backlog to the
# receiver, resumed a few seconds before the first pass: with nothing expired (baseline), with 1,000,000 expired
# callbacks in partitions as callbackd cuts them (drop), then in the DEFAULT partition (batches).
stage_history() {
  empty_tables
  local rows kase ready_ms
  jq -n --arg mode "$MODE" --arg stamp "$STAMP" --arg commit "$(git -C "$ROOT" rev-parse --short "${COMMIT:-HEAD}" 2>/dev/null)" \
    --arg pi "$HISTORY_PURGE_INTERVAL" \
    '{mode: $mode, started_utc: $stamp, callbackd_commit: $commit, purge_interval_s: ($pi|tonumber)}' \
    >"$OUT/history-env.json"
  for rows in $HISTORY_ROWS; do
    log "history: $rows finished callbacks written with SQL (callbackd stopped), then VACUUM ANALYZE"
    # shellcheck disable=SC2046
    run "${LOADGEN_JAVA[@]}" history $(common_args) --step fill --rows "$rows" --past-days 40 \
      --out "$OUT/history-fill-$rows.json"
    start_callbackd "history-reads-$rows"
    log "history: reads through the API with $rows in history ($HISTORY_REPS each; $HISTORY_REDELIVER_REPS bulk redeliveries)"
    # shellcheck disable=SC2046
    run "${LOADGEN_JAVA[@]}" history $(common_args) --step reads --api "http://127.0.0.1:$API_PORT" \
      --reps "$HISTORY_REPS" --redeliver-reps "$HISTORY_REDELIVER_REPS" --out "$OUT/history-reads-$rows.json"
    stop_callbackd
  done
  for kase in baseline drop batch; do
    log "history purge ($kase): expired callbacks and a backlog of $HISTORY_DRAIN_ROWS written (callbackd stopped)"
    # shellcheck disable=SC2046
    run "${LOADGEN_JAVA[@]}" history $(common_args) --step prepare-purge --case "$kase" \
      --old-rows "$HISTORY_OLD_ROWS" --drain-rows "$HISTORY_DRAIN_ROWS" --prefix "hp$kase" \
      --hook "http://127.0.0.1:$RCV_PORT/hook" --out "$OUT/history-prepare-$kase.json"
    CB_EXTRA_ENV=("CALLBACKD_PURGE_INTERVAL=${HISTORY_PURGE_INTERVAL}s")
    start_callbackd "history-purge-$kase"
    CB_EXTRA_ENV=()
    # The first pass is due a purge interval after the retention verticle started (before ready).
    ready_ms=$(( $(date +%s%N) / 1000000 ))
    log "history purge ($kase): drain resumed before the first pass (due about ${HISTORY_PURGE_INTERVAL}s after start)"
    # shellcheck disable=SC2046
    run "${LOADGEN_JAVA[@]}" history $(common_args) --step purge --case "$kase" --prefix "hp$kase" \
      --api "http://127.0.0.1:$API_PORT" --receiver "http://127.0.0.1:$RCV_PORT" \
      --hook "http://127.0.0.1:$RCV_PORT/hook" --pass-at-ms $(( ready_ms + HISTORY_PURGE_INTERVAL * 1000 - CB_READY_MS )) \
      --lead-seconds 5 --max-seconds 400 --callbackd-log "$LOGS/callbackd-history-purge-$kase.log" \
      --out "$OUT/history-purge-$kase.json"
    stop_callbackd
  done
}

# ---------------------------------------------------------------- CPU per API request
# Closed loop at saturation (16 clients): POST /v1/runs, the terminal PATCH of those runs, whole runs; callbackd's
# utime+stime over each phase per request. The callbacks' destination is paused through the API, so that the
# terminal updates schedule their callbacks in PostgreSQL but the dispatchers send nothing: the CPU is the API's.
# References in the same run: the same POST to the receiver (a trivial Vert.x server), the same writes straight to
# PostgreSQL. No JFR unless BENCH_APICPU_JFR=1 (it costs CPU of its own). BENCH_APICPU_WARM_SECS: the warm-up
# (default twice the stage warm-up): the JIT compiler's CPU during the phases is shown apart.
stage_apicpu() {
  local jfr= warm=${BENCH_APICPU_WARM_SECS:-$(( WARM_SECS * 2 ))}
  empty_tables
  if [ "${BENCH_APICPU_JFR:-0}" = 1 ]; then
    jfr=$RESULTS/callbackd-apicpu.jfr
    rm -f "$jfr"
  fi
  start_callbackd apicpu $jfr
  log "CPU per API request: warm-up ${warm}s, then ${PHASE_SECS}s per phase (16 clients, closed loop)"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" apicost $(common_args) --api "http://127.0.0.1:$API_PORT" \
    --hook "http://127.0.0.1:$RCV_PORT/hook" --connections 16 --seconds "$PHASE_SECS" --warm-seconds "$warm" \
    --out "$OUT/apicost.json"
  stop_callbackd
  if [ -n "$jfr" ]; then
    run "${LOADGEN_JAVA[@]}" jfr --file "$jfr" --out-md "$OUT/profile-apicpu.md" --out-json "$OUT/profile-apicpu.json" \
      --window "$OUT/apicost-window.json" --title "CPU per API request (apicpu stage: warm-up, references, create, patch, whole runs)"
  fi
}

# ---------------------------------------------------------------- the run
# Other users' builds and tests on a shared machine skew every number: wait (bounded) for a quiet machine before
# each stage, and record how busy the rest of the machine was during each phase ("others" in the tables).
# ---------------------------------------------------------------- the clustered event bus, a producer JVM
# callbackd in cluster mode (Hazelcast on 127.0.0.1); a producer JVM joins as a platform's would and sends
# callbackd.run.completed for new terminal runs: open loop at fixed rates, then a window of 64 outstanding. Each
# measured phase ends when its callbacks are delivered and the queue is empty (CPU per event, delivery included).
# Then the same phases against the stage's reference in callbackd's place (evbusref: reply, then POST; no database).
# No JFR unless BENCH_EVBUS_JFR=1 (it costs CPU of its own): then profile-evbus.md covers the 500/s phase.
stage_evbus() {
  local jfr=
  empty_tables
  if [ "${BENCH_EVBUS_JFR:-0}" = 1 ]; then
    jfr=$RESULTS/callbackd-evbus.jfr
    rm -f "$jfr"
  fi
  CB_EXTRA_ENV=(CALLBACKD_CLUSTER=true CALLBACKD_CLUSTER_HOST=127.0.0.1 CALLBACKD_CLUSTER_PORT=$EVBUS_CB_PORT
    CALLBACKD_CLUSTER_BUS_PORT=0 "CALLBACKD_CLUSTER_MEMBERS=127.0.0.1:$EVBUS_CB_PORT,127.0.0.1:$EVBUS_PRODUCER_PORT")
  start_callbackd evbus $jfr
  log "event bus: a producer JVM on the clustered bus; warm-up (${WARM_SECS}s at 1,000/s, ${WARM_SECS}s with 64" \
    "outstanding, ${WARM_SECS}s at 500/s: the measured phases' shapes, so that the JIT compiler has little left to" \
    "do; CPU per event counts its share all the same), then 500/s, 1,000/s (${PHASE_SECS}s each) and a window of 64" \
    "outstanding (${MAX_SECS}s)"
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" evbus $(common_args) --cluster-port $EVBUS_PRODUCER_PORT \
    --cluster-members "127.0.0.1:$EVBUS_CB_PORT" --hook "http://127.0.0.1:$RCV_PORT/hook" \
    --receiver "http://127.0.0.1:$RCV_PORT" --out-dir "$OUT" --settle 60 \
    --spec "warmeb:1000:$WARM_SECS,warmebmax:max:$WARM_SECS:64,warmeb500:500:$WARM_SECS,ebidle:idle:$PHASE_SECS,eb500:500:$PHASE_SECS,eb1000:1000:$PHASE_SECS,ebmax:max:$MAX_SECS:64"
  stop_callbackd
  CB_EXTRA_ENV=()
  if [ -n "$jfr" ]; then
    run "${LOADGEN_JAVA[@]}" jfr --file "$jfr" --out-md "$OUT/profile-evbus.md" --out-json "$OUT/profile-evbus.json" \
      --window "$OUT/evbus-eb500.json" --title "CPU per event on the clustered event bus (evbus stage, 500/s phase)"
  fi
  # The reference, in callbackd's place in the cluster and with its JVM options: a bare consumer that answers each
  # run at once and POSTs its payload (no database). The same producer and the same fixed rates (not the maximum:
  # a consumer that answers before it POSTs runs ahead of the receiver there, so the phase would measure the
  # receiver), after as long a warm-up as callbackd's (90 s); its CPU is counted as callbackd's is (its pid in
  # CB_PID, which common_args passes on, and stop_callbackd stops).
  log "event bus reference: a bare consumer (reply, then POST; no database) in callbackd's place, 500 and 1,000/s"
  java "${CB_JAVA_OPTS[@]}" -jar "$RUNDIR/callbackd-bench.jar" evbusref --cluster-host 127.0.0.1 \
    --cluster-port $EVBUS_CB_PORT --cluster-members "127.0.0.1:$EVBUS_CB_PORT,127.0.0.1:$EVBUS_PRODUCER_PORT" \
    >"$LOGS/evbus-reference.log" 2>&1 &
  CB_PID=$!
  PIDS+=("$CB_PID")
  # shellcheck disable=SC2046
  run "${LOADGEN_JAVA[@]}" evbus $(common_args) --consumer reference --cluster-port $EVBUS_PRODUCER_PORT \
    --cluster-members "127.0.0.1:$EVBUS_CB_PORT" --hook "http://127.0.0.1:$RCV_PORT/hook" \
    --receiver "http://127.0.0.1:$RCV_PORT" --out-dir "$OUT" --settle 60 \
    --spec "warmref:1000:$WARM_SECS,warmref2:1000:$WARM_SECS,warmref500:500:$WARM_SECS,refeb500:500:$PHASE_SECS,refeb1000:1000:$PHASE_SECS"
  stop_callbackd
}

machine_busy_pct() {
  local a b busy idle
  read -r -a a < <(head -1 /proc/stat)
  sleep 3
  read -r -a b < <(head -1 /proc/stat)
  busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]+b[8]) - (a[1]+a[2]+a[3]+a[6]+a[7]+a[8]) ))
  idle=$(( (b[4]+b[5]) - (a[4]+a[5]) ))
  echo $(( 100 * busy / (busy + idle + 1) ))
}
QUIET_LOG=$OUT/quiet.txt
: >"$QUIET_LOG"
wait_for_quiet() {
  local i busy
  [ "$QUIET_TRIES" -gt 0 ] || return 0
  for i in $(seq 1 "$QUIET_TRIES"); do
    busy=$(machine_busy_pct)
    if [ "$busy" -lt 25 ]; then
      log "machine quiet (${busy}% busy)"
      echo "${STAGE:-?}: quiet (${busy}% busy) after $(( i - 1 )) waits" >>"$QUIET_LOG"
      return 0
    fi
    log "machine ${busy}% busy with other work; waiting ($i/$QUIET_TRIES)"
    sleep 10
  done
  log "machine still busy; going on (the tables show the CPU of other processes per phase)"
  echo "${STAGE:-?}: still ${busy}% busy after $QUIET_TRIES waits" >>"$QUIET_LOG"
}

start_callbackd migrate   # applies the migrations (runs table, queue, triggers); stopped again for the references
stop_callbackd
# A server's history is not fresh: at the default retention (30 days) it has the partitions that cover the past 30
# days beside those made ahead. Every stage runs beside them (empty), as statements that read history by run read each.
# shellcheck disable=SC2046
run "${LOADGEN_JAVA[@]}" history $(common_args) --step partitions --past-days 30 --out "$OUT/history-partitions.json"
log "history: $(jq -r '"\(.history_partitions) partitions of history, \(.attempts_partitions) of attempts"' "$OUT/history-partitions.json")"
for STAGE in refs fixed max evbus drain dead cold backlog history apicpu; do
  case ",$ONLY," in
    *,$STAGE,*|,all,) wait_for_quiet; "stage_$STAGE" ;;
  esac
done

# ---------------------------------------------------------------- environment and report
CPU_MODEL=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MEM_MB=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
JAVA_VERSION=$(java -version 2>&1 | head -1)
PG_VERSION=$("$PGBIN/postgres" --version)
if [ -n "$COMMIT" ]; then
  GIT_COMMIT=$(git -C "$ROOT" rev-parse --short "$COMMIT")
  GIT_DIRTY=0
else
  GIT_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  GIT_DIRTY=$(git -C "$ROOT" status --porcelain -- src pom.xml 2>/dev/null | wc -l)
fi
CB_ENV=$(env | grep '^CALLBACKD_' | grep -v '^CALLBACKD_PG_URL=' | sort | jq -R -n '[inputs | split("=") | {(.[0]): (.[1:] | join("="))}] | add')
# callbackd logs its effective configuration at start; only its own keys are kept (the line also carries the
# process environment).
CB_EFFECTIVE=$(grep -h -o 'Starting callbackd with {.*}' "$LOGS"/callbackd-migrate.log 2>/dev/null | head -1 \
  | sed 's/^Starting callbackd with //' | jq -c 'with_entries(select(.key | test("^[a-z_]+$")))' 2>/dev/null || true)
[ -n "$CB_EFFECTIVE" ] || CB_EFFECTIVE='{}'
jq -n --arg mode "$MODE" --arg stamp "$STAMP" --arg nproc "$(nproc)" --arg cpu "$CPU_MODEL" --arg mem "$MEM_MB" \
  --arg java "$JAVA_VERSION" --arg pg "$PG_VERSION" --arg kernel "$(uname -r)" --arg commit "$GIT_COMMIT" \
  --arg dirty "$GIT_DIRTY" --arg debian "$(cat /etc/debian_version 2>/dev/null)" --argjson cbenv "$CB_ENV" \
  --argjson cbeff "$CB_EFFECTIVE" --argjson pgset "$PG_SETTINGS" --arg loadavg "$(cat /proc/loadavg)" \
  --arg elapsed "$(( $(date +%s) - T_START ))" --arg cbjava "${CB_JAVA_OPTS[*]}" \
  --argjson quiet "$(jq -R -s 'split("\n") | map(select(length > 0))' "$QUIET_LOG")" \
  --argjson parts "$(cat "$OUT/history-partitions.json" 2>/dev/null || echo '{}')" \
  '{mode: $mode, started_utc: $stamp, nproc: ($nproc|tonumber), cpu_model: $cpu, memory_mb: ($mem|tonumber),
    java: $java, postgresql: $pg, kernel: $kernel, debian: $debian, callbackd_commit: $commit,
    callbackd_uncommitted_files: ($dirty|tonumber),
    callbackd_settings: ($cbenv + {CALLBACKD_PG_URL: "postgresql://bench:***@127.0.0.1:55432/callbackd",
      CALLBACKD_HTTP_HOST: "127.0.0.1", CALLBACKD_HTTP_PORT: "18080"}),
    callbackd_effective_config: $cbeff,
    callbackd_jvm: ("java " + (if $cbjava == "" then "(JVM defaults)" else $cbjava end) + " -jar callbackd.jar; JFR only in the maximum-rate runs"),
    loadgen_and_receiver_jvm: "java -Xms512m -Xmx2g -XX:+UseParallelGC",
    postgresql_settings: $pgset, loadavg_at_end: $loadavg, elapsed_seconds: ($elapsed|tonumber),
    quiet_checks: $quiet, history_partitions: $parts}' >"$OUT/env.json"

run "${LOADGEN_JAVA[@]}" report --in "$OUT" --results "$RESULTS"
log "done: $RESULTS/latest.md, $RESULTS/latest.json, $RESULTS/api-cpu.md (apicpu stage), $RESULTS/profile-max.md, $RESULTS/profile-api.md (raw: $OUT)"
