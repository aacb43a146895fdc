/// The TLS client the tests run with Python's `ssl` module (python3, which the differential
/// tests need already): written to a test's temporary directory, run as
/// `python3 tls-client.py PORT CAFILE MODE [ARG]`, one line of results on standard output.
/// PORT is a port on 127.0.0.1, or for the modes that `connect` a UNIX socket's path.
///
/// Modes:
/// - `echo N [VERSION]`: sends N pseudo-random bytes (NULs included) while reading, then a TCP
///   half-close without close_notify, reads to the end; prints `ok VERSION CIPHER RESUMED` when
///   all came back, byte for byte, or `mismatch COUNT`. VERSION `1.2` caps the client at TLS 1.2.
/// - `pour N`: sends N random bytes while reading, then a TCP half-close, reads to the end;
///   prints `got COUNT clean`, or `got COUNT reset` when a reset or a TLS error ended it first.
/// - `read`: sends nothing, reads until the server's close_notify (a TCP end without it is an
///   error: `suppress_ragged_eofs=False`), and prints what it read.
/// - `talk TEXT`: sends TEXT, reads until close_notify, prints it, and says `closed-cleanly`.
/// - `hold`: completes the handshake, sends `ping`, prints `ready` once echoed, then waits for
///   its standard input to end before closing.
/// - `trickle`: connects without TLS and sends a ClientHello's first bytes one a second; prints
///   `closed-after SECONDS` once the server closes.
/// - `vanish`: connects without TLS, sends the first bytes of a ClientHello and closes.
/// - `plaintext`: sends an HTTP request without TLS and prints what came back, if anything.
/// - `proxy-read`: sends a PROXY v1 header for 192.0.2.7:4242 in cleartext, then does as `read`.
/// - `starttls [proxy] [banner]`: with `proxy`, sends a PROXY v1 header for 192.0.2.7:4242;
///   with `banner`, reads a line first; then reads the SMTP-like program's greeting in
///   cleartext, says STARTTLS, reads the reply, makes the handshake on the same socket, says
///   EHLO and QUIT over TLS; prints the replies joined by `|`.
/// - `read-resumed`: as `read` twice, the second connection offering the first's session; prints
///   what the second read.
/// - `reset N`: sends N bytes through TLS, then resets the connection (SO_LINGER 0).
/// - `resume [VERSION [PORT...]]`: a round trip, then a second connection with the first's
///   session (ticket); prints how each began, `Initial Resumed` when the ticket was taken.
///   With ports (VERSION `-`: the default), the later connections go to them, each offering
///   the session of the one before: another server's.
/// - `tickets [VERSION]`: three connections, each offering the session the one before ended
///   with; prints how each began and how many different tickets they ended with
///   (`Initial Resumed Resumed 3` when every resumption brought a new ticket).
/// - `peer`: completes the handshake and prints the common name of the certificate the server
///   sent and the protocol ALPN chose (`None` when none), then closes.
///
/// In its environment: `TLS_NAME`, the server name to ask for (default `localhost`, checked
/// against the certificate; another is not checked; `-` asks for none); `TLS_CLIENT_CERT` and
/// `TLS_CLIENT_KEY`, a client certificate; `TLS_ALPN`, the protocols to offer, comma-separated.
/// A TLS error in any mode prints `failed` and OpenSSL's reason (or, for an alert Python has
/// no code for, its text).
let tlsClientScript = #"""
import os, select, socket, ssl, struct, sys, time

target, cafile, mode = sys.argv[1], sys.argv[2], sys.argv[3]
port = int(target) if target.isdigit() else 0
args = sys.argv[4:]
name = os.environ.get("TLS_NAME", "localhost")
hostname = None if name == "-" else name

def context(version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if name != "localhost":
        ctx.check_hostname = False
    if os.environ.get("TLS_CLIENT_CERT"):
        ctx.load_cert_chain(os.environ["TLS_CLIENT_CERT"], os.environ["TLS_CLIENT_KEY"])
    if os.environ.get("TLS_ALPN"):
        ctx.set_alpn_protocols(os.environ["TLS_ALPN"].split(","))
    return ctx

def dial():
    """A connection to the port on 127.0.0.1, or to the UNIX socket (`@name`: abstract)."""
    if target.isdigit():
        return socket.create_connection(("127.0.0.1", port))
    raw = socket.socket(socket.AF_UNIX)
    raw.connect("\0" + target[1:] if target.startswith("@") else target)
    return raw

def connect(version=None):
    raw = dial()
    return context(version).wrap_socket(raw, server_hostname=hostname, suppress_ragged_eofs=False)

def say(*words):
    print(*words, flush=True)

def read_all(tls):
    """What `tls` brings until its end."""
    got = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            return got
        got += chunk

def send_proxy_header(raw):
    """A PROXY v1 header for the client 192.0.2.7:4242, in cleartext."""
    raw.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 4242 %d\r\n" % port)

def exchange(tls, data):
    """Sends `data` while reading, then a TCP half-close without close_notify, and reads to the
    end: what came back, and the error that ended the exchange early (None at a clean end)."""
    tls.setblocking(False)
    sent, got, shut = 0, bytearray(), False
    try:
        while True:
            moved = False
            if sent < len(data):
                try:
                    sent += tls.send(data[sent:sent + 65536]); moved = True
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            elif not shut:
                socket.socket.shutdown(tls, socket.SHUT_WR); shut = True
            try:
                chunk = tls.recv(65536)
                if not chunk:
                    return bytes(got), None
                got += chunk; moved = True
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            if not moved:
                select.select([tls], [tls] if sent < len(data) else [], [], 10)
    except (ConnectionError, ssl.SSLError) as error:
        return bytes(got), error

def ping(ctx, to, session):
    """A connection to port `to` offering `session`, and a round trip: how it began, and the
    session it ended with."""
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", to)), server_hostname=hostname, session=session)
    tls.sendall(b"ping")
    got = b""
    while len(got) < 4:
        got += tls.recv(4)
    began, ended = "Resumed" if tls.session_reused else "Initial", tls.session
    tls.close()
    return began, ended

try:
    if mode == "echo":
        count = int(args[0])
        data = bytearray(os.urandom(count))
        data[0:count:5] = bytes(len(range(0, count, 5)))
        tls = connect(args[1] if len(args) > 1 else None)
        got, error = exchange(tls, bytes(data))
        if error:
            raise error
        if got == data:
            say("ok", tls.version(), tls.cipher()[0], "Resumed" if tls.session_reused else "Initial")
        else:
            say("mismatch", len(got))
    elif mode == "pour":
        got, error = exchange(connect(), os.urandom(int(args[0])))
        say("got", len(got), "reset" if error else "clean")
    elif mode == "read":
        sys.stdout.write(read_all(connect()).decode()); sys.stdout.flush()
    elif mode == "starttls":
        raw = dial()
        if "proxy" in args:
            send_proxy_header(raw)
        def line():
            # A byte at a time: nothing past the line may be taken before the handshake.
            got = b""
            while not got.endswith(b"\n"):
                byte = raw.recv(1)
                if not byte:
                    break
                got += byte
            return got.decode().rstrip("\r\n")
        replies = [line() for _ in range(2 if "banner" in args else 1)]
        raw.sendall(b"STARTTLS\r\n")
        replies.append(line())
        tls = context().wrap_socket(raw, server_hostname=hostname)
        tls.sendall(b"EHLO test\r\n")
        replies.append(tls.recv(4096).decode().rstrip("\r\n"))
        tls.sendall(b"QUIT\r\n")
        tls.recv(4096)
        say("|".join(replies))
    elif mode == "proxy-read":
        raw = dial()
        send_proxy_header(raw)
        tls = context().wrap_socket(raw, server_hostname=hostname, suppress_ragged_eofs=False)
        sys.stdout.write(read_all(tls).decode()); sys.stdout.flush()
    elif mode == "read-resumed":
        ctx = context()
        session = None
        for attempt in range(2):
            tls = ctx.wrap_socket(dial(), server_hostname=hostname, session=session)
            got = read_all(tls)
            session = tls.session
            tls.close()
        sys.stdout.write(got.decode()); sys.stdout.flush()
    elif mode == "talk":
        tls = connect()
        tls.sendall(args[0].encode())
        say(read_all(tls).decode().strip())
        say("closed-cleanly")
    elif mode == "hold":
        tls = connect()
        tls.sendall(b"ping")
        got = b""
        while len(got) < 4:
            got += tls.recv(4)
        say("ready")
        sys.stdin.read()
        tls.close()
    elif mode == "trickle":
        raw = dial()
        start = time.monotonic()
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64)
        for byte in hello:
            try:
                raw.sendall(bytes([byte]))
            except OSError:
                break
            ready, _, _ = select.select([raw], [], [], 1)
            if ready:
                break
        try:
            raw.settimeout(30)
            raw.recv(100)
        except OSError:
            pass
        say("closed-after", round(time.monotonic() - start, 1))
    elif mode == "vanish":
        raw = dial()
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        raw.close()
        say("vanished")
    elif mode == "plaintext":
        raw = dial()
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw.settimeout(10)
        try:
            say("got", len(raw.recv(100)))
        except OSError as error:
            say("error", error.errno)
    elif mode == "resume":
        ctx = context(args[0] if args and args[0] != "-" else None)
        ports = [port] + [int(other) for other in args[1:]] if len(args) > 1 else [port, port]
        seen, session = [], None
        for to in ports:
            began, session = ping(ctx, to, session)
            seen.append(began)
        say(*seen)
    elif mode == "tickets":
        ctx = context(args[0] if args else None)
        seen, session, tickets = [], None, set()
        for attempt in range(3):
            began, session = ping(ctx, port, session)
            seen.append(began)
            tickets.add(session.id)
        say(*seen, len(tickets))
    elif mode == "reset":
        tls = connect()
        tls.sendall(os.urandom(int(args[0])))
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
        say("reset")
    elif mode == "peer":
        tls = connect()
        subject = dict(field[0] for field in tls.getpeercert()["subject"])
        say(subject["commonName"], tls.selected_alpn_protocol())
        tls.close()
except ssl.SSLError as error:
    # Python knows no reason code for some alerts (no_application_protocol): its text then.
    say("failed", error.reason or error.args[-1])
"""#
