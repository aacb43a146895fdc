// fork(2) for the server and for any other process of the package. Its own file, and so its own
// .text section: Linker/child-path.order puts it first, with the rest of what a forked child runs.
#include "signal-state.h"

pid_t CForkServer_fork(int *error, bool server_child) {
    pid_t pid = fork();
    if (pid == 0) {
        // A child forked to serve keeps the server's handlers, which act as its dispositions
        // (see cforkserver_in_server), and takes the mask of the server's waits: the server
        // blocks the signals it catches everywhere else, and the child must get them. Its one
        // system call after fork(2); sigprocmask(2) fails only for a bad `how` or pointer. Any
        // other child gets SIGINT and SIGCHLD at their defaults and, whatever its parent blocks
        // (fork-bench blocks SIGINT and SIGTERM for a signalfd), no signal blocked.
        if (server_child) {
            sigprocmask(SIG_SETMASK, &cforkserver_wait_mask, NULL);
        } else {
            cforkserver_set_disposition(SIGINT, SIG_DFL);
            cforkserver_set_disposition(SIGCHLD, SIG_DFL);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
        }
        return 0;
    }
    if (pid == -1) {
        *error = errno;
    }
    return pid;
}
