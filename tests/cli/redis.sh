# redis.sh — a private redis-server for the CLI tests. Source it, then:
#
#   redis_start        start redis-server on a free loopback port (bind
#                      127.0.0.1, --save '' --appendonly no, a temporary
#                      --dir) and wait until it answers PING; sets
#                      REDIS_PORT, REDIS_URL (redis://127.0.0.1:PORT), REDIS_PID
#   redis_stop         stop it (SIGTERM, then SIGKILL) and remove its directory
#   redis_kill         SIGKILL it, as a crash would; the port is kept
#   redis_restart      start a fresh (empty) server on the same port
#   redis_cli ARGS...  redis-cli against it
#   free_port          print a loopback port that nothing listens on
#
# A port is found by binding port 0 (perl, else python3); when another
# process takes it before redis-server does, another port is tried. The
# server is watched: if the test shell dies without calling redis_stop
# (its EXIT trap should), the server is killed within a second anyway.
# Needs redis-server and redis-cli (tools/setup installs them).

REDIS_PORT=""
REDIS_URL=""
REDIS_PID=""
REDIS_DIR=""
REDIS_WATCHDOG=""

free_port() {
    if command -v perl >/dev/null 2>&1; then
        perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1) or die "bind: $!\n"; print $s->sockport, "\n"'
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}

redis_cli() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# _redis_try PORT: start on PORT and wait for PING (from this very process,
# not another server holding the port). 0 when up, 1 on a port clash, 2 otherwise.
_redis_try() {
    local port="$1" i
    # The server must not hold the test's pipes open (a FIFO the test writes
    # to would never see its end): it keeps only stdin, stdout and stderr.
    (
        for f in /proc/$BASHPID/fd/*; do
            f=${f##*/}
            [ "$f" -gt 2 ] 2>/dev/null && eval "exec $f>&-"
        done
        exec redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$REDIS_DIR" \
            --daemonize no --protected-mode yes
    ) </dev/null >>"$REDIS_DIR/redis.log" 2>&1 &
    REDIS_PID=$!
    echo "$REDIS_PID" >"$REDIS_DIR/pid"
    for i in $(seq 1 250); do                  # up to 10 s
        if ! kill -0 "$REDIS_PID" 2>/dev/null; then
            wait "$REDIS_PID" 2>/dev/null || true
            REDIS_PID=""
            if grep -q 'Address already in use' "$REDIS_DIR/redis.log"; then return 1; fi
            return 2
        fi
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] &&
            redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' | grep -x "process_id:$REDIS_PID" >/dev/null; then
            REDIS_PORT="$port"
            REDIS_URL="redis://127.0.0.1:$port"
            return 0
        fi
        sleep 0.04
    done
    kill -9 "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
    return 2
}

_redis_watch() {
    # Kills the server (whichever is current: its pid is in $REDIS_DIR/pid)
    # when the test shell is gone.
    local shell_pid="$$" dir="$REDIS_DIR"
    (
        trap '' HUP
        while kill -0 "$shell_pid" 2>/dev/null; do sleep 0.5; done
        [ -f "$dir/pid" ] && kill -9 "$(cat "$dir/pid")" 2>/dev/null
        rm -rf "$dir"
    ) </dev/null >/dev/null 2>&1 &
    REDIS_WATCHDOG=$!
}

redis_start() {
    local attempt rc
    command -v redis-server >/dev/null 2>&1 || { echo "redis.sh: redis-server is not installed (tools/setup installs it)" >&2; return 1; }
    REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-redis.XXXXXX")
    _redis_watch
    for attempt in 1 2 3 4 5 6 7 8; do
        rc=0
        _redis_try "$(free_port)" || rc=$?
        [ "$rc" -eq 0 ] && return 0
        [ "$rc" -eq 1 ] || break
    done
    echo "redis.sh: redis-server did not start: $(tail -5 "$REDIS_DIR/redis.log" 2>/dev/null)" >&2
    return 1
}

redis_kill() {
    [ -n "$REDIS_PID" ] || return 0
    kill -9 "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}

redis_restart() {
    local attempt rc
    [ -n "$REDIS_PORT" ] && [ -z "$REDIS_PID" ] || { echo "redis.sh: restart needs a killed server" >&2; return 1; }
    for attempt in $(seq 1 50); do          # the port may take a moment to free
        rc=0
        _redis_try "$REDIS_PORT" || rc=$?
        [ "$rc" -eq 0 ] && return 0
        [ "$rc" -eq 1 ] || break
        sleep 0.1
    done
    echo "redis.sh: redis-server did not restart on port $REDIS_PORT: $(tail -5 "$REDIS_DIR/redis.log" 2>/dev/null)" >&2
    return 1
}

redis_stop() {
    local i
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
    if [ -n "$REDIS_WATCHDOG" ]; then
        kill "$REDIS_WATCHDOG" 2>/dev/null || true
        wait "$REDIS_WATCHDOG" 2>/dev/null || true
        REDIS_WATCHDOG=""
    fi
    [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
    REDIS_DIR=""
}
