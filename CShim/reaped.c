// Reaping, in the server's loop: the children the server started, and no other. A process that
// uses the library may start children of its own and wait for them (waitpid(2) with their pid):
// a reaper that took whatever had ended (waitpid(-1)) would take theirs from under them.
#include "CForkServer.h"

pid_t CForkServer_finished_child(void) {
    siginfo_t info;
    info.si_pid = 0;
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1) {
        return -1;
    }
    return info.si_pid;
}

bool CForkServer_reap(pid_t pid, int *status) {
    pid_t reaped;
    do {
        reaped = waitpid(pid, status, WNOHANG);
    } while (reaped == -1 && errno == EINTR);
    return reaped == pid;
}
