#!/usr/bin/env python3
"""receiver.py — a fault-injecting notification gateway for the tests of
fanzha's warning delivery (engine/gateway.c). Python 3 standard library only.

It listens on 127.0.0.1 on a free port (bound as port 0) and writes the port
to --port-file once it accepts connections (written to a temporary name and
renamed, so a reader never sees half a number). HTTP/1.1 with keep-alive, one
thread per connection; --tls CERT KEY serves HTTPS instead.

Every delivery request (any POST or PUT but the control endpoint) is recorded
as one JSON line in --log FILE:
    {"t": unix seconds, "method", "path", "headers": {name: value},
     "body": text, "status": status returned (0: reset, no response),
     "duplicate": bool, "client_port": the client's TCP port (the same
     port on two requests: the connection was kept alive and reused)}

Idempotency: a request whose Idempotency-Key was already accepted (answered
2xx) gets 200 {"duplicate":true} and counts as a duplicate, not as a second
acceptance. A gateway that is down is down for duplicates too: the fault mode
applies first.

Fault modes (--mode, or at runtime by the control endpoint):
    ok          200 {"ok":true} (the default)
    NNN         that status for every request (500, 503, 429, 400, 301...),
                with a Retry-After header when retry_after is set and a
                Location header (on 3xx) when location is set; the response
                body echoes the request body, as a gateway's error message
                quoting the rejected request would
    hang        sleep hang_ms (default 1000) and then answer as "ok": the
                request is accepted even if the client gave up waiting
    reset       read the request, then close the socket with an RST
                (SO_LINGER 0) without any response
fail_first K (--fail-first K) adds: the first K attempts of each key get 500
(with Retry-After when set), the later ones are handled by the mode.

Control endpoint (not recorded, not counted):
    POST /_control {"mode": "ok|hang|reset|NNN", "retry_after": N or "text",
                    "fail_first": K, "hang_ms": N, "location": URL,
                    "reset_stats": true}
        changes the given settings only; answers the whole configuration.
    GET /_stats   {"requests", "accepted", "duplicates", "keys" (distinct
                   keys seen), "statuses": {"200": n, ...}, "config": {...}}
"""
import argparse
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    """Configuration and counters, shared by the handler threads."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.config = {
            "mode": args.mode,
            "retry_after": args.retry_after,
            "fail_first": args.fail_first,
            "hang_ms": args.hang_ms,
            "location": args.location,
        }
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.reset_stats()

    def reset_stats(self):
        self.requests = 0
        self.duplicates = 0
        self.accepted = set()           # keys answered 2xx
        self.accepted_keyless = 0
        self.attempts = {}              # key -> attempts seen
        self.statuses = {}

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "accepted": len(self.accepted) + self.accepted_keyless,
                "duplicates": self.duplicates,
                "keys": len(self.attempts),
                "statuses": dict(self.statuses),
                "config": dict(self.config),
            }

    def control(self, change):
        with self.lock:
            for k in ("mode", "retry_after", "fail_first", "hang_ms", "location"):
                if k in change:
                    self.config[k] = change[k]
            self.config["mode"] = str(self.config["mode"])
            if change.get("reset_stats"):
                self.reset_stats()
            return dict(self.config)

    def arrive(self, key):
        """Count a request; its configuration snapshot and the attempt number of its key."""
        with self.lock:
            self.requests += 1
            n = self.attempts.get(key, 0) + 1
            if key is not None:
                self.attempts[key] = n
            return dict(self.config), n

    def accept(self, key):
        """Accept a request: True when the key was accepted before."""
        with self.lock:
            if key is None:
                self.accepted_keyless += 1
                return False
            if key in self.accepted:
                self.duplicates += 1
                return True
            self.accepted.add(key)
            return False

    def record(self, handler, body, status, duplicate):
        line = {
            "t": time.time(),
            "method": handler.command,
            "path": handler.path,
            "headers": {k: v for k, v in handler.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
            "status": status,
            "duplicate": duplicate,
            "client_port": handler.client_address[1],
        }
        with self.lock:
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            if self.log:
                self.log.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, as a real gateway
    server_version = "fanzha-test-receiver"
    # The status line and headers go in one write and the body in another:
    # with Nagle's algorithm the body would wait for the client's delayed
    # ACK, 40 ms on every request of a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("receiver: " + (fmt % args) + "\n")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def reply(self, status, obj, extra_headers=()):
        # 204 and 304 have no body: one would be taken for the start of the
        # next response on a kept-alive connection.
        data = b"" if status in (204, 304) else json.dumps(obj).encode()
        try:
            self.send_response(status)
            for name, value in extra_headers:
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True    # the client gave up (a timeout, say)

    def reset_connection(self):
        # SO_LINGER with a zero timeout makes close() send an RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def do_GET(self):
        if self.path == "/_stats":
            self.reply(200, self.server.state.stats())
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path == "/_control":
            try:
                change = json.loads(body or b"{}")
            except ValueError:
                self.reply(400, {"error": "control body is not JSON"})
                return
            self.reply(200, self.server.state.control(change))
            return
        self.deliver(body)

    do_PUT = do_POST

    def deliver(self, body):
        state = self.server.state
        key = self.headers.get("Idempotency-Key")
        config, attempt = state.arrive(key)
        mode = config["mode"]
        retry = [("Retry-After", str(config["retry_after"]))] if config["retry_after"] is not None else []
        if mode == "reset":
            state.record(self, body, 0, False)
            self.reset_connection()
            return
        if mode == "hang":
            time.sleep(float(config["hang_ms"]) / 1000.0)
        elif mode != "ok":
            status = int(mode)
            state.record(self, body, status, False)
            extra = retry if not 200 <= status < 300 else []
            if 300 <= status < 400 and config["location"]:
                extra = extra + [("Location", str(config["location"]))]
            echo = body.decode("utf-8", errors="replace")
            self.reply(status, {"error": "injected", "echo": echo}, extra)
            return
        if key is not None and attempt <= int(config["fail_first"] or 0):
            state.record(self, body, 500, False)
            self.reply(500, {"error": "injected, fail_first"}, retry)
            return
        duplicate = state.accept(key)
        state.record(self, body, 200, duplicate)
        self.reply(200, {"duplicate": True} if duplicate else {"ok": True})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128    # socketserver's 5 would drop the SYNs of a burst of connections
    tls = None              # an ssl.SSLContext for HTTPS

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's thread, not in the
        # accepting one, so a client that refuses our certificate blocks nobody.
        if self.tls is None:
            return super().finish_request(request, client_address)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="fault-injecting test gateway (see the opening comment)")
    p.add_argument("--port-file", required=True, help="write the listening port here")
    p.add_argument("--log", help="append one JSON line per delivery request")
    p.add_argument("--mode", default="ok", help="ok, hang, reset or an HTTP status")
    p.add_argument("--retry-after", default=None, help="Retry-After value sent with failures")
    p.add_argument("--fail-first", type=int, default=0, help="first K attempts of each key get 500")
    p.add_argument("--hang-ms", type=int, default=1000, help="how long hang mode sleeps")
    p.add_argument("--location", default=None, help="Location header sent with 3xx statuses")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(args)
    server.verbose = args.verbose
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.tls = ctx
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
