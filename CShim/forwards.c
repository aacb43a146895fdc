// Calls Swift cannot make as they are: errno behind a macro, and calls glibc declares only under
// _GNU_SOURCE, which the module's import of its headers does not define.
#define _GNU_SOURCE  // accept4, pipe2, F_SETPIPE_SZ

#include "CForkServer.h"

int CForkServer_errno(void) {
    return errno;
}

int CForkServer_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int CForkServer_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

// The header's copy of a constant defined only under _GNU_SOURCE, checked against glibc's.
_Static_assert(CFORKSERVER_F_SETPIPE_SZ == F_SETPIPE_SZ, "glibc's F_SETPIPE_SZ");
