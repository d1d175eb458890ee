# lib.sh — what the CLI tests share (sourced, not run): case bookkeeping,
# running a command with its output kept, waiting for processes and ports,
# the fault-injecting gateway (tests/gateway/receiver.py), and the search
# for phone numbers in what fanzha printed.
#
# A test sets T (its temporary directory) and SRC before using these, and
# appends the PIDs of what it starts to SERVER_PIDS / BG_PIDS so that
# lib_cleanup stops them.

FAILS=0
CASE=""
CASE_FAILS=0
SERVER_PIDS=()
BG_PIDS=()

fail() { echo "FAIL [$CASE]: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { if [ "$FAILS" -eq "$CASE_FAILS" ]; then echo "ok   [$CASE] $*"; else echo "FAIL [$CASE] $*"; fi; }
case_() { CASE="$1"; CASE_FAILS=$FAILS; }

# stop_pids PID...: SIGTERM each, give each a second, then SIGKILL.
stop_pids() {
    local p
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

lib_cleanup() {
    stop_pids "${BG_PIDS[@]}" "${SERVER_PIDS[@]}"
    rm -rf "$T"
}

# serve_start DIR ARGS...: `fanzha serve ARGS` on a free loopback port
# (port file and log, serve.log, in DIR); sets SV_PID and URL. Returns 1
# (after saying why) when it does not start.
serve_start() {
    local dir="$1"
    shift
    rm -f "$dir/port"
    "$FANZHA" serve --listen 127.0.0.1:0 --port-file "$dir/port" "$@" </dev/null >>"$dir/serve.log" 2>&1 &
    SV_PID=$!
    SERVER_PIDS+=("$SV_PID")
    if ! wait_for 120 test -s "$dir/port"; then
        echo "fanzha serve did not start: $(tail -5 "$dir/serve.log")" >&2
        return 1
    fi
    URL="http://127.0.0.1:$(cat "$dir/port")"
}

lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# run NAME CMD...: CMD with stdout in $T/NAME.out and stderr in $T/NAME.err;
# sets RC. Both are appended to $T/public.log for the privacy checks.
run() {
    local name="$1"
    shift
    RC=0
    "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
    cat "$T/$name.out" "$T/$name.err" >>"$T/public.log"
}

can_connect() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_pid PID SECONDS: wait for a background process, killing it when it
# takes longer; sets RC (124 when it had to be killed).
wait_pid() {
    local pid="$1" i
    for i in $(seq 1 $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        RC=124
        return
    fi
    RC=0
    wait "$pid" || RC=$?
}

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
    local n=$(($1 * 10)) i
    shift
    for i in $(seq 1 "$n"); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    return 1
}

# receiver_start ARGS...: tests/gateway/receiver.py; sets RX_PORT, RX_URL, RX_LOG.
receiver_start() {
    local pid
    RX_LOG="$T/receiver.log"
    python3 "$SRC/tests/gateway/receiver.py" --port-file "$T/receiver.port" --log "$RX_LOG" "$@" \
        </dev/null >>"$T/receiver.out" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    wait_for 10 test -s "$T/receiver.port" || { echo "receiver.py did not start: $(tail -5 "$T/receiver.out")" >&2; return 1; }
    RX_PORT=$(cat "$T/receiver.port")
    RX_URL="http://127.0.0.1:$RX_PORT"
}
rx_control() { curl -sf -X POST --data "$1" "$RX_URL/_control" >/dev/null; }
rx_stats() { curl -sf "$RX_URL/_stats"; }

# numbers_in FILE NUMBER...: the numbers whose last 8 digits are in FILE, as
# a run of digits or written with separators.
numbers_in() {
    local f="$1" n last8
    shift
    for n in "$@"; do
        last8=${n: -8}
        if tr -c '0-9\n' '\n' <"$f" | grep "$last8" >/dev/null ||
            sed -E 's/([0-9])[ ()+.-]+([0-9])/\1\2/g; s/([0-9])[ ()+.-]+([0-9])/\1\2/g' "$f" | grep "$last8" >/dev/null; then
            echo "$n"
        fi
    done
}
