// Turning a child of the server into a connection's program, the way tcpserver's child does:
// run by the spawned child of spawn.c and by a forked child alike.
#define _GNU_SOURCE  // execvpe, closefrom

#include "signal-state.h"

// Writes the request's log lines with each CFORKSERVER_EXEC_PID_MARK replaced by this pid.
static void write_log_lines(const CForkServer_exec_request *request) {
    if (request->log == NULL || request->log_length == 0) {
        return;
    }
    char digits[16];
    int count = 0;
    for (unsigned pid = (unsigned)getpid(); pid > 0 || count == 0; pid /= 10) {
        digits[count++] = (char)('0' + pid % 10);
    }
    size_t length = 0;
    for (size_t index = 0; index < request->log_length && length + sizeof digits <= request->log_capacity; index++) {
        if (request->log[index] == CFORKSERVER_EXEC_PID_MARK) {
            for (int digit = count - 1; digit >= 0; digit--) {
                request->log_buffer[length++] = digits[digit];
            }
        } else {
            request->log_buffer[length++] = request->log[index];
        }
    }
    // One write, as every log line of the server: lines of concurrent processes never mix. A log
    // that cannot be written now does not keep the client from its program, as in the server.
    CForkServer_log_write(request->log_buffer, length);
}

void CForkServer_exec_connection(const CForkServer_exec_request *request, CForkServer_exec_failure *failure) {
    // A group of its own: the drain signals the program and whatever it starts, and a terminal's
    // Ctrl-C for the server's group does not reach it. Made first, so that from here on no Ctrl-C
    // meant for the server finds the program's signals at their defaults. A failure is not a
    // reason to drop the client: setpgid(0, 0) fails only with EPERM for a session leader, which
    // a child just made by fork(2) or clone(2) never is (its pid names no session), and even then
    // the program would run in the server's group, as every program tcpserver and s6-tcpserverd
    // start does, and the drain would signal it by its pid alone (ForkingServer's send).
    setpgid(0, 0);
    // tcpserver's order: the pid and ok or deny lines come before anything the program writes.
    // Written while SIGPIPE is still ignored: a log on a pipe with no reader must not kill the
    // client's program before it runs. Where signals are blocked (a spawned child), that write
    // leaves SIGPIPE pending; ignoring it again discards it (sigaction(2)), before the defaults.
    write_log_lines(request);
    cforkserver_set_disposition(SIGPIPE, SIG_IGN);
    // The server's dispositions back to the defaults: caught ones would go at exec(2) by
    // themselves, ignored ones would not. sigaction(2) fails only for a signal that does not
    // exist or cannot be caught, and the set holds neither.
    sigset_t defaults;
    cforkserver_exec_defaults(&defaults);
    for (int signo = 1; signo < NSIG; signo++) {
        if (sigismember(&defaults, signo) == 1) {
            cforkserver_set_disposition(signo, SIG_DFL);
        }
    }
    if (request->exit_status != 0) {
        _exit(request->exit_status);
    }
    if (dup2(request->connection, STDIN_FILENO) == -1 || dup2(request->connection, STDOUT_FILENO) == -1) {
        *failure = (CForkServer_exec_failure){.step = CFORKSERVER_EXEC_DESCRIPTORS, .error = errno};
        return;
    }
    // Every descriptor but the standard three, the connection's own among them (close_range(2),
    // or where the kernel refuses it, each descriptor /proc/self/fd lists: glibc's closefrom).
    closefrom(3);
    // Last: a spawned child keeps every signal blocked until its program is about to run.
    // sigprocmask(2) fails only for a bad `how` or pointer.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(request->file, request->argv, request->envp);
    *failure = (CForkServer_exec_failure){.step = CFORKSERVER_EXEC_PROGRAM, .error = errno};
}

