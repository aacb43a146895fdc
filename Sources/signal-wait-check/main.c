/*
 * signal-wait-check: the server's waits (CForkServer_signals_accept, CForkServer_signals_poll)
 * against the signals that must end them, in a process of its own with the server's handlers
 * installed. The integration tests run it; each case prints "ok CASE" or "FAIL CASE: ..." and
 * the exit status is the number of failures. A watchdog (SIGALRM, 10 s) ends a wait that nothing
 * ended.
 *
 *   signal-wait-check [accept]   the wait for a client (CForkServer_signals_accept)
 *   signal-wait-check poll       the wait for a descriptor or a deadline (CForkServer_signals_poll)
 *     recorded-before   a signal recorded after the count was read, before the wait: EINTR at once
 *     while-waiting     SIGTERM while the wait waits in the kernel: EINTR
 *     nested            SIGTERM inside a handler of the program's own that interrupted the wait
 *                       (the server's handler runs inside another): EINTR once that handler returns
 *
 *   signal-wait-check jump       a handler of the program's own that leaves the wait by siglongjmp(3)
 *                                to a sigsetjmp(3) that saved the mask (the server's signals blocked)
 *     jumped-out        SIGTERM recorded inside that handler, which then jumps out: counted
 *     reaped-after      the waits after it still end when a child ends, and the child is reaped
 *
 * Both waits wait in ppoll(2), with the server's signals unblocked only there. A helper process
 * sends each signal once /proc/PID/syscall shows this process in ppoll(2). Before each case every
 * signal still pending (a helper's SIGCHLD) is let in, so that a case starts with none.
 */
#define _GNU_SOURCE
#include "CForkServer.h"

#include <setjmp.h>
#include <stdarg.h>
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

// Where the program's other handler jumps to, with the signal mask saved when it was set.
static sigjmp_buf jump;

// The program's own handler that leaves the wait: SIGTERM recorded inside it, as on_usr1's, then
// a jump out of the wait, never returning into it.
static void on_usr2(int signo) {
    (void)signo;
    raise(SIGTERM);
    siglongjmp(jump, 1);
}

__attribute__((format(printf, 2, 3))) static void report(bool passed, const char *format, ...) {
    if (passed) {
        printf("ok %s\n", current_case);
    } else {
        char detail[256];
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(detail, sizeof detail, format, arguments);
        va_end(arguments);
        printf("FAIL %s: %s\n", current_case, detail);
        failures += 1;
    }
    fflush(stdout);
}

// Whether `pid` waits now: /proc/PID/syscall starts with the number of the call it is in.
static bool in_wait(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    long number = -1;
    bool read = fscanf(file, "%ld", &number) == 1;
    fclose(file);
    return read && number == SYS_ppoll;
}

// Forks a helper that sends `signo` to this process once it waits, then exits; with `signo` 0 it
// sends nothing, and its end (SIGCHLD) is the signal.
static pid_t signal_when_waiting(int signo) {
    pid_t waiter = getpid();
    int error = 0;
    pid_t helper = CForkServer_fork(&error, false);
    if (helper == 0) {
        struct timespec pause = {0, 1000000};
        for (int tries = 0; tries < 10000 && !in_wait(waiter); tries++) {
            nanosleep(&pause, NULL);
        }
        if (signo != 0) {
            kill(waiter, signo);
        }
        _exit(0);
    }
    if (helper == -1) {
        fprintf(stderr, "signal-wait-check: fork: %s\n", strerror(error));
        exit(100);
    }
    return helper;
}

// Lets in every signal still pending (a helper's SIGCHLD among them: the server's signals are
// delivered only in a wait): waits that cannot wait, until one ends for no signal.
static void settle(void) {
    while (CForkServer_signals_poll(NULL, 0, 0, CForkServer_signals_wakeups()) == -1 && errno == EINTR) {
    }
}

enum wait_kind { WAIT_ACCEPT, WAIT_POLL };

// One wait on `listener` for a client, with no deadline: the call the loop makes.
static int wait_once(enum wait_kind kind, int listener, unsigned seen) {
    if (kind == WAIT_ACCEPT) {
        struct sockaddr_storage peer;
        socklen_t length = sizeof peer;
        return CForkServer_signals_accept(listener, (struct sockaddr *)&peer, &length, seen);
    }
    struct pollfd client = {.fd = listener, .events = POLLIN, .revents = 0};
    return CForkServer_signals_poll(&client, 1, -1, seen);
}

// One wait with the count read at `seen`: EINTR expected, and SIGTERM counted once.
static void expect_interrupted(enum wait_kind kind, int listener, unsigned seen, int shutdowns_before) {
    alarm(10);
    int result = wait_once(kind, listener, seen);
    int error = errno;
    alarm(0);
    int counted = CForkServer_signals_shutdown_count() - shutdowns_before;
    report(result == -1 && error == EINTR && counted == 1, "the wait returned %d (%s), %d SIGTERM counted", result, result == -1 ? strerror(error) : "ready", counted);
}

static void check_wait(enum wait_kind kind, int listener) {
    current_case = "recorded-before";
    settle();
    int shutdowns = CForkServer_signals_shutdown_count();
    unsigned seen = CForkServer_signals_wakeups();
    raise(SIGTERM);
    expect_interrupted(kind, listener, seen, shutdowns);

    current_case = "while-waiting";
    settle();
    shutdowns = CForkServer_signals_shutdown_count();
    pid_t helper = signal_when_waiting(SIGTERM);
    expect_interrupted(kind, listener, CForkServer_signals_wakeups(), shutdowns);
    waitpid(helper, NULL, 0);

    current_case = "nested";
    settle();
    shutdowns = CForkServer_signals_shutdown_count();
    helper = signal_when_waiting(SIGUSR1);
    expect_interrupted(kind, listener, CForkServer_signals_wakeups(), shutdowns);
    waitpid(helper, NULL, 0);
}

static void check_jump(int listener) {
    current_case = "jumped-out";
    settle();
    int shutdowns = CForkServer_signals_shutdown_count();
    pid_t helper = signal_when_waiting(SIGUSR2);
    alarm(10);
    if (sigsetjmp(jump, 1) == 0) {
        int result = wait_once(WAIT_ACCEPT, listener, CForkServer_signals_wakeups());
        int error = errno;
        alarm(0);
        report(false, "the wait returned %d (%s) instead of the handler jumping out of it", result, result == -1 ? strerror(error) : "a client");
    } else {
        alarm(0);
        int counted = CForkServer_signals_shutdown_count() - shutdowns;
        report(counted == 1, "%d SIGTERM counted", counted);
    }
    waitpid(helper, NULL, 0);

    // The loop's turn: reap if a SIGCHLD was counted, then wait; a wait may end for a signal that was
    // something else's, and the loop goes round. The child's end must end one of them.
    current_case = "reaped-after";
    settle();
    pid_t child = signal_when_waiting(0);
    alarm(10);
    bool reaped = false;
    bool ended_for_nothing = false;
    unsigned child_signals = CForkServer_signals_child_count();
    while (!reaped && !ended_for_nothing) {
        unsigned seen = CForkServer_signals_wakeups();
        if (CForkServer_signals_child_count() != child_signals) {
            int status;
            reaped = CForkServer_reap(child, &status);
        }
        if (!reaped) {
            ended_for_nothing = !(wait_once(WAIT_ACCEPT, listener, seen) == -1 && errno == EINTR);
        }
    }
    alarm(0);
    report(reaped, "a wait ended with no signal before the child %d was reaped", (int)child);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "accept";
    if (strcmp(mode, "accept") != 0 && strcmp(mode, "poll") != 0 && strcmp(mode, "jump") != 0) {
        fprintf(stderr, "usage: signal-wait-check [accept | poll | jump]\n");
        return 100;
    }
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
    action.sa_handler = on_usr2;
    sigaction(SIGUSR2, &action, NULL);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (listener == -1 || bind(listener, (struct sockaddr *)&address, sizeof address) == -1 || listen(listener, 1) == -1) {
        perror("signal-wait-check: listen");
        return 100;
    }

    if (strcmp(mode, "jump") == 0) {
        check_jump(listener);
    } else {
        check_wait(strcmp(mode, "poll") == 0 ? WAIT_POLL : WAIT_ACCEPT, listener);
    }
    return failures;
}
