// fork(2) for the server and for any other process of the package. Its own file, and so its own
// .text section: Linker/child-path.order puts it first, with the rest of what a forked child runs.
#include "signal-state.h"

pid_t CForkServer_fork(int *error, bool server_child) {
    pid_t pid = fork();
    if (pid == 0) {
        // A child forked to serve keeps the server's handlers and mask: the handlers act as its
        // dispositions (see cforkserver_in_server), and the loop blocks no signal. Any other
        // child gets SIGINT and SIGCHLD at their defaults and, whatever its parent blocks
        // (fork-bench blocks SIGINT and SIGTERM for a signalfd), no signal blocked.
#ifdef CFORKSERVER_TEXTBOOK_WAIT
        // The server blocks the signals it catches but in its waits: a child forked to serve
        // takes the waits' mask, so that SIGTERM, SIGHUP and SIGQUIT end it, and its handlers
        // act as its dispositions.
        if (server_child) {
            sigprocmask(SIG_SETMASK, &cforkserver_wait_mask, NULL);
        }
#endif
        if (!server_child) {
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
