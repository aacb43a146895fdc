/*
 * c-tls-server: the least a forking TLS server can do, in C. Each connection's
 * child makes the handshake (SSL_accept on a context the server made before
 * it forked, so a ticket from one child resumes in another), then echoes
 * through the session, or, with --exec PROGRAM, runs PROGRAM behind pipes and
 * relays plaintext both ways, as stunnel's exec= and forkserver --tls do.
 *
 * fork-bench measures it as the floor under echo-server --tls and forkserver
 * --tls: what OpenSSL's handshake in a new process, and the program's own
 * start, cost on this machine whatever the server around them does.
 *
 * Deliberately left out: no handshake deadline, no limit, no log per
 * connection, no environment for the program, no SNI or client certificates.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "c-tls-server"

static _Noreturn void usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, PROG ": %s (try --help)\n", msg);
    exit(2);
}

static _Noreturn void fatal(const char *what)
{
    fprintf(stderr, PROG ": %s: %s\n", what, strerror(errno));
    exit(1);
}

/* OpenSSL's reason for a failed step at start, in one line. */
static _Noreturn void tls_fatal(const char *what, const char *file)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    fprintf(stderr, PROG ": %s %s: %s\n", what, file, reason);
    exit(1);
}

static _Noreturn void usage(void)
{
    printf("usage: " PROG " --tls-cert FILE [--tls-key FILE] [--port N] [--exec PROGRAM]\n"
           "  --tls-cert FILE  PEM certificate chain, leaf first\n"
           "  --tls-key FILE   PEM private key (default: the certificate file)\n"
           "  --port N         TCP port on 127.0.0.1, 0 = kernel picks (default 8443)\n"
           "  --exec PROGRAM   relay each connection to PROGRAM (no arguments) instead of echoing\n"
           "  --help           show this help\n");
    exit(0);
}

/* Returns the value of option `name` ("--name V" or "--name=V") if argv[*i] is it, else NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, len) != 0)
        return NULL;
    if (a[len] == '=')
        return a + len + 1;
    if (a[len] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        usage_error("option %s requires a value", name);
    return argv[++*i];
}

static void sleep_100ms(void)
{
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void on_sigchld(int sig)
{
    int saved = errno;
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    errno = saved;
}

/* 0 once all of it is written, -1 if the reader is gone. */
static int write_all(int fd, const char *buf, ssize_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, (size_t)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        n -= w;
    }
    return 0;
}

/* Echoes through the session until the client's close_notify or EOF; 0 on a clean end. */
static int echo(SSL *ssl)
{
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
        if (SSL_write(ssl, buf, n) <= 0)
            return -1;
    if (SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN)
        return -1;
    return SSL_shutdown(ssl) >= 0 ? 0 : -1;
}

/* Runs `program` behind two pipes and relays plaintext: the client's end (close_notify or EOF)
 * closes the program's input; the program's EOF becomes close_notify and a TCP half-close. The
 * program's input is written without blocking: a relay blocked there would not read the
 * program's output, and a program blocked writing that would never read its input again. The
 * program's exit status, or -1 if the relay failed. */
static int relay(SSL *ssl, int fd, char *const argv[])
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
        return -1;
    pid_t pid = vfork();
    if (pid == -1)
        return -1;
    if (pid == 0) {
        /* The child's own dispositions: the program starts with SIGPIPE's default. */
        signal(SIGPIPE, SIG_DFL);
        if (dup2(in[0], STDIN_FILENO) == -1 || dup2(out[1], STDOUT_FILENO) == -1)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    int to_program = in[1];
    if (fcntl(to_program, F_SETFL, O_NONBLOCK) == -1)
        return -1;
    char input[16384], output[16384];
    int held = 0, offset = 0; /* the client's plaintext not yet in the program's pipe */
    int failed = 0;
    for (;;) {
        /* A record already read and decrypted waits in the session, not in the socket. */
        int pending = to_program != -1 && held == 0 && SSL_pending(ssl) > 0;
        struct pollfd fds[3] = {
            { to_program != -1 && held == 0 ? fd : -1, POLLIN, 0 },
            { out[0], POLLIN, 0 },
            { held > 0 ? to_program : -1, POLLOUT, 0 },
        };
        if (!pending && poll(fds, 3, -1) == -1) {
            if (errno == EINTR)
                continue;
            failed = 1;
            break;
        }
        if (pending || fds[0].revents) {
            held = SSL_read(ssl, input, sizeof input);
            offset = 0;
            if (held <= 0) {
                /* The client's close_notify or EOF, or its failure. */
                failed = SSL_get_error(ssl, held) != SSL_ERROR_ZERO_RETURN;
                held = 0;
                close(to_program);
                to_program = -1;
            }
        }
        if (held > 0) {
            ssize_t w = write(to_program, input + offset, (size_t)(held - offset));
            if (w > 0 && (offset += (int)w) == held)
                held = 0;
            if (w == -1 && errno != EAGAIN && errno != EINTR) {
                /* The program reads no more: what the client sends is dropped. */
                held = 0;
                close(to_program);
                to_program = -1;
            }
        }
        if (fds[1].revents) {
            ssize_t n = read(out[0], output, sizeof output);
            if (n == 0 || (n == -1 && errno != EINTR))
                break;
            if (n > 0 && SSL_write(ssl, output, (int)n) <= 0) {
                failed = 1;
                break;
            }
        }
    }
    if (to_program != -1)
        close(to_program);
    close(out[0]);
    if (!failed && SSL_shutdown(ssl) >= 0)
        shutdown(fd, SHUT_WR);
    int status;
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            return -1;
    return failed ? -1 : status;
}

int main(int argc, char **argv)
{
    const char *certificate = NULL, *key = NULL, *program = NULL;
    long port = 8443;
    const char *v;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            usage();
        else if ((v = opt_value(argc, argv, &i, "--tls-cert")) != NULL)
            certificate = v;
        else if ((v = opt_value(argc, argv, &i, "--tls-key")) != NULL)
            key = v;
        else if ((v = opt_value(argc, argv, &i, "--exec")) != NULL)
            program = v;
        else if ((v = opt_value(argc, argv, &i, "--port")) != NULL) {
            char *end;
            errno = 0;
            port = strtol(v, &end, 10);
            if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno == ERANGE || port > 65535)
                usage_error("invalid --port '%s': expected an integer in 0..65535", v);
        } else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (!certificate)
        usage_error("--tls-cert FILE is required");
    if (!key)
        key = certificate;
    if (program && program[0] != '/')
        usage_error("invalid --exec '%s': not an absolute path", program);

    /* The context, its keys and its ticket keys: made once, before the first fork. */
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (!context || SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1)
        tls_fatal("cannot make a TLS context for", certificate);
    if (SSL_CTX_use_certificate_chain_file(context, certificate) != 1)
        tls_fatal("cannot load the certificate", certificate);
    if (SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(context) != 1)
        tls_fatal("cannot load the key", key);
    /* As the servers it is the floor of: a client's EOF without close_notify ends its data
     * (OpenSSL 3 would answer it with a decode_error alert), and no session cache, which would
     * live in one child and die with it: resumption goes through the context's tickets. */
    SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        fatal("sigaction(SIGCHLD)");

    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd == -1)
        fatal("socket");
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        fatal("setsockopt(SO_REUSEADDR)");
    if (bind(lfd, (struct sockaddr *)&address, sizeof address) == -1)
        fatal("bind");
    if (listen(lfd, SOMAXCONN) == -1)
        fatal("listen");
    socklen_t length = sizeof address;
    if (getsockname(lfd, (struct sockaddr *)&address, &length) == -1)
        fatal("getsockname");
    char line[128];
    int n = snprintf(line, sizeof line, PROG ": listening on 127.0.0.1:%u (pid %ld)\n",
                     (unsigned)ntohs(address.sin_port), (long)getpid());
    if (write(STDERR_FILENO, line, (size_t)n) != n) {
        /* stderr gone: keep serving anyway */
    }

    char *exec_argv[] = { (char *)program, NULL };
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd == -1) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                sleep_100ms(); /* out of resources: back off, retry */
            continue;
        }
        pid_t pid = fork();
        if (pid == -1) {
            close(cfd);
            sleep_100ms(); /* EAGAIN/ENOMEM: avoid a hot accept/close loop */
            continue;
        }
        if (pid) {
            close(cfd);
            continue;
        }
        close(lfd);
        signal(SIGCHLD, SIG_DFL); /* the relay waits for its program itself */
        /* The handshake's flights are whole records: Nagle's algorithm would hold the last. */
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SSL *ssl = SSL_new(context);
        if (!ssl || SSL_set_fd(ssl, cfd) != 1 || SSL_accept(ssl) != 1)
            _exit(1);
        int status = program ? relay(ssl, cfd, exec_argv) : echo(ssl);
        _exit(status == 0 ? 0 : 1);
    }
}
