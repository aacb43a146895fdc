/*
 * signal-wait-check: the server's wait (CForkServer_signals_accept) against the signals that
 * must end it, in a process of its own with the server's handlers installed. The integration
 * tests run it; each case prints "ok CASE" or "FAIL CASE: ..." and the exit status is the
 * number of failures. A watchdog (SIGALRM, 10 s) ends a wait that nothing ended.
 *
 *   recorded-before   a signal recorded after the count was read, before the wait: EINTR at once
 *   while-waiting     SIGTERM while accept(2) waits (the SA_RESTART handler rewinds it): EINTR
 *   nested            SIGTERM inside a handler of the program's own that interrupted the wait
 *                     (the case the program counter cannot tell): EINTR once that handler returns
 *
 * A helper process sends each signal once /proc/PID/syscall shows the wait in accept4(2).
 */
#define _GNU_SOURCE
#include "CForkServer.h"

#include <stdio.h>
#include <sys/syscall.h>

static int failures = 0;
static const char *current_case = "";

static void on_alarm(int signo) {
    (void)signo;
    char line[160];
    int length = snprintf(line, sizeof line, "FAIL %s: the wait was still waiting after 10 s\n", current_case);
    ssize_t ignored = write(STDOUT_FILENO, line, (size_t)length);
    (void)ignored;
    _exit(100);
}

// The program's own handler: it raises SIGTERM, which the server's handler then records inside it.
static void on_usr1(int signo) {
    (void)signo;
    raise(SIGTERM);
}

static void report(bool passed, const char *detail) {
    if (passed) {
        printf("ok %s\n", current_case);
    } else {
        printf("FAIL %s: %s\n", current_case, detail);
        failures += 1;
    }
    fflush(stdout);
}

// Whether `pid` is in accept4(2) now: /proc/PID/syscall starts with the call's number.
static bool in_accept(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    long number = -1;
    bool read = fscanf(file, "%ld", &number) == 1;
    fclose(file);
    return read && number == SYS_accept4;
}

// Forks a helper that sends `signo` to this process once it waits in accept4(2), then exits.
static pid_t signal_when_waiting(int signo) {
    pid_t waiter = getpid();
    int error = 0;
    pid_t helper = CForkServer_fork(&error, false);
    if (helper == 0) {
        struct timespec pause = {0, 1000000};
        for (int tries = 0; tries < 10000 && !in_accept(waiter); tries++) {
            nanosleep(&pause, NULL);
        }
        kill(waiter, signo);
        _exit(0);
    }
    return helper;
}

// One wait on `listener` with the count read at `seen`: EINTR expected, and SIGTERM counted.
static void expect_interrupted(int listener, unsigned seen, int shutdowns_before) {
    alarm(10);
    struct sockaddr_storage peer;
    socklen_t length = sizeof peer;
    int result = CForkServer_signals_accept(listener, (struct sockaddr *)&peer, &length, seen);
    int error = errno;
    alarm(0);
    char detail[128];
    snprintf(detail, sizeof detail, "accept returned %d (%s), %d SIGTERM counted", result, result == -1 ? strerror(error) : "a client", CForkServer_signals_shutdown_count() - shutdowns_before);
    report(result == -1 && error == EINTR && CForkServer_signals_shutdown_count() == shutdowns_before + 1, detail);
}

int main(void) {
    if (CForkServer_signals_install() == -1) {
        perror("signal-wait-check: install");
        return 100;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_alarm;
    sigaction(SIGALRM, &action, NULL);
    action.sa_handler = on_usr1;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, NULL);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (listener == -1 || bind(listener, (struct sockaddr *)&address, sizeof address) == -1 || listen(listener, 1) == -1) {
        perror("signal-wait-check: listen");
        return 100;
    }

    current_case = "recorded-before";
    unsigned seen = CForkServer_signals_wakeups();
    raise(SIGTERM);
    expect_interrupted(listener, seen, 0);

    current_case = "while-waiting";
    pid_t helper = signal_when_waiting(SIGTERM);
    expect_interrupted(listener, CForkServer_signals_wakeups(), 1);
    waitpid(helper, NULL, 0);

    current_case = "nested";
    helper = signal_when_waiting(SIGUSR1);
    expect_interrupted(listener, CForkServer_signals_wakeups(), 2);
    waitpid(helper, NULL, 0);

    return failures;
}
