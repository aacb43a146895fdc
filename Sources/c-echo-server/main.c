/*
 * c-echo-server: minimal fork-per-connection TCP echo server (Stevens,
 * UNP ch. 5 style). It is the plain-C baseline that the Swift
 * fork-per-connection server is benchmarked against.
 *
 * Deliberately left out: no concurrency limit, no graceful drain on
 * SIGTERM/SIGINT (default disposition), no idle timeout, no logging
 * per connection.
 *
 * With --no-fork it is UNP's iterative server instead: it serves each
 * connection itself, one after another. fork-bench uses that as the
 * ceiling a fork-per-connection server cannot pass.
 *
 * With --ballast-pages N it writes N pages of data before it serves, so
 * that fork copies the page-table entries of a larger image: the same C
 * server with as many present data pages as another server's image shows
 * what that image costs each fork (BENCHMARKS.md).
 *
 * With --exec PROGRAM it is inetd's and tcpserver's model at its least: each
 * connection's child runs PROGRAM with the connection as its input and
 * output, and nothing else is done for it (no environment, no limit, no
 * log). fork-bench measures it as the floor under every server that runs
 * a program per connection: the part of a connection's cost that is the
 * program's own start. With --unix PATH it listens on a UNIX socket.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "c-echo-server"

/* --ballast-pages: data written once, so that each of its pages is present in the image fork copies. */
#define BALLAST_PAGES 256
static volatile char ballast[BALLAST_PAGES * 4096];

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

static _Noreturn void usage(void)
{
    printf("usage: " PROG " [--host ADDR] [--port N | --unix PATH] [--backlog N] [--no-fork | --exec PROGRAM]\n"
           "       [--ballast-pages N]\n"
           "  --host ADDR   IPv4 or IPv6 literal to bind (default 127.0.0.1)\n"
           "  --port N      TCP port 0..65535, 0 = kernel picks (default 8001)\n"
           "  --unix PATH   listen on a UNIX socket at PATH (a new file) instead\n"
           "  --backlog N   listen(2) backlog (default SOMAXCONN = %d)\n"
           "  --no-fork     serve each connection in this process, one at a time\n"
           "  --exec PROGRAM  run PROGRAM (no arguments) on each connection instead of echoing\n"
           "  --ballast-pages N  write N pages of data first, 0..%d (default 0)\n"
           "  --help        show this help\n", SOMAXCONN, BALLAST_PAGES);
    exit(0);
}

/* Strict decimal: digits only, whole string, within [lo, hi]. */
static long parse_num(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno == ERANGE || v < lo || v > hi)
        usage_error("invalid %s '%s': expected an integer in %ld..%ld", opt, s, lo, hi);
    return v;
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

/* Echo until EOF (0) or error (-1). */
static int echo(int fd)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            off += w;
        }
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = 8001, backlog = SOMAXCONN;
    int no_fork = 0, inet_set = 0;
    long ballast_pages = 0;
    const char *unix_path = NULL, *program = NULL;
    const char *v;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            usage();
        else if (strcmp(argv[i], "--no-fork") == 0)
            no_fork = 1;
        else if ((v = opt_value(argc, argv, &i, "--host")) != NULL)
            host = v, inet_set = 1;
        else if ((v = opt_value(argc, argv, &i, "--port")) != NULL)
            port = parse_num("--port", v, 0, 65535), inet_set = 1;
        else if ((v = opt_value(argc, argv, &i, "--backlog")) != NULL)
            backlog = parse_num("--backlog", v, 0, 1L << 30);
        else if ((v = opt_value(argc, argv, &i, "--ballast-pages")) != NULL)
            ballast_pages = parse_num("--ballast-pages", v, 0, BALLAST_PAGES);
        else if ((v = opt_value(argc, argv, &i, "--unix")) != NULL)
            unix_path = v;
        else if ((v = opt_value(argc, argv, &i, "--exec")) != NULL)
            program = v;
        else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (unix_path && inet_set)
        usage_error("--unix and --host or --port exclude each other");
    if (no_fork && program)
        usage_error("--no-fork and --exec exclude each other");
    if (program && program[0] != '/')
        usage_error("invalid --exec '%s': not an absolute path", program);

    struct sockaddr_storage ss;
    socklen_t sslen;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    struct sockaddr_un *su = (struct sockaddr_un *)&ss;
    memset(&ss, 0, sizeof ss);
    if (unix_path) {
        if (unix_path[0] == '\0' || strlen(unix_path) >= sizeof su->sun_path)
            usage_error("invalid --unix '%s': not a path of 1..%zu bytes", unix_path, sizeof su->sun_path - 1);
        su->sun_family = AF_UNIX;
        strcpy(su->sun_path, unix_path);
        sslen = sizeof *su;
    } else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)port);
        sslen = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        sslen = sizeof *s6;
    } else {
        usage_error("invalid --host '%s': not an IPv4 or IPv6 address literal", host);
    }

    for (long page = 0; page < ballast_pages; page++)
        ballast[page * 4096] = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        fatal("sigaction(SIGCHLD)");

    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd == -1)
        fatal("socket");
    int one = 1;
    if (ss.ss_family != AF_UNIX && setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        fatal("setsockopt(SO_REUSEADDR)");
    if (ss.ss_family == AF_INET6 &&
        setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == -1)
        fatal("setsockopt(IPV6_V6ONLY)");
    if (bind(lfd, (struct sockaddr *)&ss, sslen) == -1) {
        int e = errno;
        if (unix_path) {
            fprintf(stderr, PROG ": cannot bind %s: %s\n", unix_path, strerror(e));
            exit(1);
        }
        fprintf(stderr, PROG ": cannot bind %s%s%s:%ld: %s\n",
                ss.ss_family == AF_INET6 ? "[" : "", host,
                ss.ss_family == AF_INET6 ? "]" : "", port, strerror(e));
        exit(1);
    }
    if (listen(lfd, (int)backlog) == -1)
        fatal("listen");

    /* Prepared before the loop: a vfork child writes nothing of the parent's. */
    char *exec_argv[] = { (char *)program, NULL };

    /* Readiness line: one write(2), nothing left buffered before fork. */
    char addr[INET6_ADDRSTRLEN], line[256];
    sslen = sizeof ss;
    if (getsockname(lfd, (struct sockaddr *)&ss, &sslen) == -1)
        fatal("getsockname");
    int n;
    if (unix_path) {
        n = snprintf(line, sizeof line, PROG ": listening on %s (pid %ld)\n", unix_path, (long)getpid());
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
        n = snprintf(line, sizeof line, PROG ": listening on [%s]:%u (pid %ld)\n",
                     addr, (unsigned)ntohs(s6->sin6_port), (long)getpid());
    } else {
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
        n = snprintf(line, sizeof line, PROG ": listening on %s:%u (pid %ld)\n",
                     addr, (unsigned)ntohs(s4->sin_port), (long)getpid());
    }
    if (write(STDERR_FILENO, line, (size_t)n) != n) {
        /* stderr gone: keep serving anyway */
    }

    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd == -1) {
            switch (errno) {
            case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
                sleep_100ms(); /* out of resources: back off, retry */
                continue;
            case EINTR: case ECONNABORTED: case EPROTO: case EPERM:
            case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
            case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case EAGAIN:
                continue; /* transient, per accept(2) */
            default:
                fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
                sleep_100ms();
                continue;
            }
        }

        if (no_fork) {
            echo(cfd);
            close(cfd);
            continue;
        }

        /* vfork for a program: the child only moves the connection to 0 and 1 and execs, so it
         * may share this memory until then, and no page table is copied. */
        pid_t pid = program ? vfork() : fork();
        if (pid == -1) {
            int e = errno;
            close(cfd);
            fprintf(stderr, PROG ": fork: %s\n", strerror(e));
            sleep_100ms(); /* EAGAIN/ENOMEM: avoid a hot accept/close loop */
            continue;
        }
        if (pid == 0 && program) {
            /* The child's own copy of the dispositions (vfork shares memory, not the signal
             * table): the program starts with SIGPIPE's default, as under tcpserver. */
            signal(SIGPIPE, SIG_DFL);
            if (dup2(cfd, STDIN_FILENO) == -1 || dup2(cfd, STDOUT_FILENO) == -1)
                _exit(126);
            execv(program, exec_argv);
            _exit(127);
        }
        if (pid == 0) {
            close(lfd);
            signal(SIGCHLD, SIG_DFL);
            int rc = echo(cfd);
            close(cfd);
            _exit(rc == 0 ? 0 : 1);
        }
        close(cfd);
    }
}
