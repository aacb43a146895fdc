// Waiting until a signal: the server's accept4(2) and ppoll(2), which a signal ends wherever it
// lands, the textbook way (pselect(2), ppoll(2)): the signals the server catches stay blocked in
// the server but in ppoll(2), which unblocks them for as long as it waits (the mask at install,
// less the five; signals.c). A signal that comes while the loop runs stays pending until the next
// wait, whose ppoll(2) delivers it and returns EINTR at once: none can land between the loop's
// last look at what the handlers record and the start of the wait, for none is delivered
// outside the wait.
//
// The assembly this replaced (a count checked and the call made in one stretch that a handler
// cancelled by moving the program counter) saved no connections per second: BENCHMARKS.md.
#define _GNU_SOURCE  // ppoll

#include "signal-state.h"

unsigned CForkServer_signals_wakeups(void) {
    return cforkserver_signal_state->wakeups;
}

int CForkServer_signals_poll(struct pollfd *fds, nfds_t count, int timeout_milliseconds, unsigned seen) {
    // A handler that ran since `seen` ran with the signals unblocked outside a wait: one of the
    // program's own jumped out of a wait without restoring the mask (siglongjmp to a sigsetjmp
    // that saved none), or the caller never had them blocked. Its signal is answered now; a
    // signal landing after this check in such a process waits for the next event.
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
    // A client is queued, and no process but the server accepts on its listener: accept4(2)
    // takes it without waiting, even on a listener left blocking for a pool's workers. Whatever
    // else ppoll(2) reported (POLLHUP from a listener shut down, POLLNVAL), accept4(2) fails
    // with the error a waiting accept4(2) would have.
    return accept4(fd, address, length, SOCK_CLOEXEC);
}
