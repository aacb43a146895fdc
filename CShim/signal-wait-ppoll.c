// Waiting until a signal, the textbook way: the server's caught signals stay blocked but in
// ppoll(2), which unblocks them for as long as it waits (the mask at install, less the five;
// signals.c). A signal that comes while the loop runs stays pending until the next wait, whose
// ppoll(2) then delivers it and returns EINTR at once: no signal lands between a check and a
// call, because none is delivered outside the call. accept4(2) follows a ppoll(2) that found a
// client, and so never waits: only the server accepts on its listener.
//
// Built instead of signal-wait.c and its assembly with CFORKSERVER_TEXTBOOK_WAIT defined.
#ifdef CFORKSERVER_TEXTBOOK_WAIT
#define _GNU_SOURCE  // ppoll

#include "signal-state.h"

unsigned CForkServer_signals_wakeups(void) {
    return cforkserver_signal_state->wakeups;
}

int CForkServer_signals_poll(struct pollfd *fds, nfds_t count, int timeout_milliseconds, unsigned seen) {
    // A handler that ran since `seen` ran with the signals unblocked: a handler of the program's
    // own that jumped out of a wait without restoring the mask, or a caller that never blocked
    // them. Its signal is answered now, not at the next client.
    if (cforkserver_signal_state->wakeups != seen) {
        errno = EINTR;
        return -1;
    }
    struct timespec timeout = {.tv_sec = timeout_milliseconds / 1000, .tv_nsec = (long)(timeout_milliseconds % 1000) * 1000000};
    return ppoll(fds, count, timeout_milliseconds < 0 ? NULL : &timeout, &cforkserver_wait_mask);
}

int CForkServer_signals_accept(int fd, struct sockaddr *address, socklen_t *length, unsigned seen) {
    struct pollfd listener = {.fd = fd, .events = POLLIN, .revents = 0};
    if (CForkServer_signals_poll(&listener, 1, -1, seen) == -1) {
        return -1;
    }
    // Whatever ppoll(2) reported (a client, POLLHUP from a listener shut down, POLLNVAL),
    // accept4(2) says it as a blocking accept would have.
    return accept4(fd, address, length, SOCK_CLOEXEC);
}
#endif
