#!/usr/bin/env python3
"""contrib/scale-out's TLS load and its TLS report, run by `contrib/scale-out/run --tls`.

load ADDRESS PORT CA CLIENT CONNECTIONS FIRST_PORT
    One client: CONNECTIONS connections one after another to ADDRESS:PORT (HAProxy), each a TLS
    handshake verified against CA for the name `scale-out`, then the line `client CLIENT
    connection N` sent and its echo checked. Connection 0, 2, 4, ... offers no session (a full
    handshake); connection 1, 3, 5, ... offers the session its predecessor got, that is the
    ticket of the host that served the predecessor. Round robin sends the two to different hosts
    more often than not. Writes one line per connection:

        N PORT OFFERED REUSED FROM_PORT MICROSECONDS HANDSHAKE_MICROSECONDS OK

    PORT is the connection's own source port, FIRST_PORT + N: bound, so that no two connections
    of a run share one (left to the kernel, a port came twice in a run of 400). HAProxy's PROXY
    header carries it to the host that serves the connection, and that host logs it: the report
    finds the host of every connection by it.
    FROM_PORT is the port of the connection whose session was offered (0: none). MICROSECONDS is
    the time from connect(2) to the echo checked: TCP through HAProxy, the PROXY header and the
    fork on the host, the handshake, one round trip; HANDSHAKE_MICROSECONDS the handshake's part,
    from the connection made to the handshake done.

report WORK CLIENTS PROGRAM KEYS
    Reads WORK/clientN.tls (N = 1..CLIENTS) and the hosts' logs WORK/h1.log ... h3.log, prints
    the TLS lines of the report and a `TLS ...` result line, and exits 1 when the run does not
    show what it should. KEYS is `shared` (one --tls-ticket-keys file on every host: every
    offered session resumes, some on a host other than the one that issued it, on every host)
    or `own` (each host its own keys: sessions resume only on the host that issued them).
"""

import os
import re
import socket
import ssl
import statistics
import sys
import time


def load(address, port, ca, client, count, first_port):
    context = ssl.create_default_context(cafile=ca)
    previous = None  # (session, port) of the connection before, when it worked
    failed = 0
    for n in range(count):
        offered = previous if n % 2 == 1 else None
        line = f"client {client} connection {n}\n".encode()
        own_port, reused, ok, session = first_port + n, False, False, None
        started = finished = connected = shaken = time.perf_counter()
        try:
            with socket.create_connection((address, port), timeout=10, source_address=("", own_port)) as raw:
                # As browsers and curl do: the small writes of a handshake and a line go at once.
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connected = time.perf_counter()
                with context.wrap_socket(raw, server_hostname="scale-out",
                                         session=offered[0] if offered else None) as tls:
                    shaken = time.perf_counter()
                    tls.sendall(line)
                    reply = b""
                    while not reply.endswith(b"\n"):
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        reply += chunk
                    ok = reply == line
                    finished = time.perf_counter()
                    reused = tls.session_reused
                    # TLS 1.3's tickets come after the handshake, before the echo: here now.
                    session = tls.session
        except (OSError, ssl.SSLError) as error:
            print(f"client {client} connection {n}: {error}", file=sys.stderr)
        elapsed = (finished if ok else time.perf_counter()) - started
        if not ok:
            failed += 1
            print(f"client {client} connection {n}: no echo", file=sys.stderr)
        previous = (session, own_port) if ok and session is not None else None
        print(n, own_port, int(offered is not None), int(reused), offered[1] if offered else 0,
              round(elapsed * 1e6), round((shaken - connected) * 1e6), int(ok))
    return 1 if failed else 0


# The hosts' lines that name a client's source port: echo-server's `pid C from 10.200.0.2:PORT
# via ...`, forkserver's `ok C :LOCAL:PORT :10.200.0.2::PORT`, and the line forkserver's program
# writes in TLS mode (`tls-session Initial|Resumed IP PORT`, from SSL_SESSION_RESUMED; HAProxy's
# health checks, from 10.200.N.1, have theirs too).
SERVED = re.compile(r" from 10\.200\.0\.2:(\d+) via |^forkserver: ok \d+ \S+ :10\.200\.0\.2::(\d+)$")
SESSION = re.compile(r"^tls-session (Initial|Resumed) 10\.200\.0\.2 (\d+)$")


def report(work, clients, program, keys):
    hosts = {}  # client port -> host; None when two lines name it
    seen_by_program = {}  # client port -> "Initial" | "Resumed"
    for host in (1, 2, 3):
        with open(os.path.join(work, f"h{host}.log"), errors="replace") as log:
            for line in log:
                line = line.rstrip("\n")
                served = SERVED.search(line)
                if served:
                    port = int(served.group(1) or served.group(2))
                    hosts[port] = None if port in hosts else host
                session = SESSION.match(line)
                if session:
                    seen_by_program[int(session.group(2))] = session.group(1)

    records = []
    for client in range(1, clients + 1):
        with open(os.path.join(work, f"client{client}.tls")) as output:
            for line in output:
                n, port, offered, reused, from_port, micros, handshake, ok = map(int, line.split())
                records.append((port, offered, reused, from_port, (micros, handshake), ok))

    full, resumed, elsewhere, not_resumed, unplaced, mismatched = [], [], 0, 0, 0, 0
    per_host = {host: {"full": 0, "resumed": 0, "elsewhere": 0, "seen": 0} for host in (1, 2, 3)}
    for port, offered, reused, from_port, micros, ok in records:
        if not ok:
            continue
        (resumed if reused else full).append(micros)
        if offered and not reused:
            not_resumed += 1
        host = hosts.get(port)
        if host is None:
            unplaced += 1
            continue
        per_host[host]["resumed" if reused else "full"] += 1
        if reused:
            issuer = hosts.get(from_port)
            if issuer is None:
                unplaced += 1
            elif issuer != host:
                elsewhere += 1
                per_host[host]["elsewhere"] += 1
        if program == "forkserver":
            seen = seen_by_program.get(port)
            if seen != ("Resumed" if reused else "Initial"):
                mismatched += 1
            elif reused:
                per_host[host]["seen"] += 1

    print(f"tls: {len(full)} full handshakes, {len(resumed)} resumed ({elsewhere} on a host other than "
          f"the one that issued the ticket), {not_resumed} offered sessions not resumed, "
          f"ticket keys: {'one file on every host' if keys == 'shared' else 'each host its own'}")

    def timing(kind, samples):
        if not samples:
            return f"{kind} none"
        median = statistics.median(whole for whole, _ in samples) / 1000
        handshake = statistics.median(part for _, part in samples) / 1000
        # The rate CLIENTS clients would reach making only this kind, one connection after
        # another, each taking the median time: the mean would be the drain's (a connection
        # HAProxy sends to host 2 as it stops waits a second for its SYN to be sent again).
        return f"{kind} median {median:.2f} ms (handshake {handshake:.2f} ms), {clients / median * 1000:.0f}/s"

    print(f"tls timing (connect, handshake, echo; per second: {clients} clients at the median): "
          f"{timing('full', full)}; {timing('resumed', resumed)}")
    for host, counts in per_host.items():
        program_saw = f", its program saw SSL_SESSION_RESUMED=Resumed {counts['seen']} times" \
            if program == "forkserver" else ""
        print(f"tls host {host}: {counts['full']} full, {counts['resumed']} resumed "
              f"({counts['elsewhere']} with another host's ticket){program_saw}")
    hosts_resumed = sum(1 for counts in per_host.values() if counts["resumed"] > 0)
    print(f"TLS full={len(full)} resumed={len(resumed)} elsewhere={elsewhere} not_resumed={not_resumed} "
          f"hosts_resumed={hosts_resumed} unplaced={unplaced} mismatched={mismatched} keys={keys}")

    problems = []
    if unplaced:
        problems.append(f"{unplaced} connections not found in exactly one host's log")
    if mismatched:
        problems.append(f"{mismatched} connections whose program saw another SSL_SESSION_RESUMED than the client")
    if not resumed:
        problems.append("no connection resumed")
    if keys == "shared":
        if not_resumed:
            problems.append(f"{not_resumed} offered sessions made a full handshake with the keys shared")
        if not elsewhere:
            problems.append("no session resumed on a host other than its issuer's")
        if hosts_resumed != 3:
            problems.append("a host served no resumed connection")
    elif elsewhere:
        problems.append(f"{elsewhere} sessions resumed on another host without shared keys")
    for problem in problems:
        print(f"scale-out: tls: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(arguments):
    if len(arguments) == 7 and arguments[0] == "load":
        return load(arguments[1], int(arguments[2]), arguments[3], arguments[4], int(arguments[5]), int(arguments[6]))
    if len(arguments) == 5 and arguments[0] == "report":
        return report(arguments[1], int(arguments[2]), arguments[3], arguments[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
