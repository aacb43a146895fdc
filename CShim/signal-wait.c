// Waiting until a signal: the server's accept4(2) and ppoll(2), which a signal recorded since the
// caller last looked ends, wherever it lands.
//
// A system call the server waits in, made only if no handler has recorded a signal since `seen`.
// Checked in C and then called, a signal landing between the check and the call would wait in
// the call, unanswered, until the next client. So the check and the call are one stretch of
// assembly (CForkServer_wait_call, in signal-wait-ARCH.S), and a handler that interrupts it
// before the call has entered the kernel moves the program counter to
// `CForkServer_wait_call_cancelled`, which returns -EINTR. A call the signal interrupts inside the
// kernel returns -EINTR by itself; restarted after an SA_RESTART handler, its program counter is
// back on the instruction and it is cancelled the same way. glibc (for thread cancellation, since
// 2.41) and musl do the same.
//
// The stretch also marks itself `waiting`, for the one case the program counter cannot tell: a
// handler of the program's own interrupted it, and one of the server's interrupted that handler.
// The server's handler then leaves SIGCHLD pending and blocked until the other handler returns
// into the stretch, where SIGCHLD's handler ends the wait (musl re-sends its cancellation signal
// so). A handler that jumps out of the stretch instead of returning into it may leave SIGCHLD
// blocked in the code it jumps to, until the next wait unblocks it (wait_call).
#ifndef CFORKSERVER_TEXTBOOK_WAIT
#define _GNU_SOURCE  // REG_RIP

#include "signal-state.h"
#include "signal-wait.h"

#include <sys/syscall.h>
#include <ucontext.h>

_Static_assert(offsetof(struct wait_call, wakeups) == WAIT_CALL_WAKEUPS, "the assembly's offset of wakeups");
_Static_assert(offsetof(struct wait_call, seen) == WAIT_CALL_SEEN, "the assembly's offset of seen");
_Static_assert(offsetof(struct wait_call, number) == WAIT_CALL_NUMBER, "the assembly's offset of number");
_Static_assert(offsetof(struct wait_call, arguments) == WAIT_CALL_ARGUMENTS, "the assembly's offset of arguments");
_Static_assert(offsetof(struct signal_state, waiting) == offsetof(struct signal_state, wakeups) + WAIT_CALL_WAITING_FROM_WAKEUPS, "the assembly's offset of waiting");
_Static_assert(WAIT_CALL_CANCELLED == -EINTR, "the assembly's EINTR");

#if defined(__x86_64__)
static uintptr_t *interrupted_pc(ucontext_t *context) {
    return (uintptr_t *)&context->uc_mcontext.gregs[REG_RIP];
}
#elif defined(__aarch64__)
static uintptr_t *interrupted_pc(ucontext_t *context) {
    return (uintptr_t *)&context->uc_mcontext.pc;
}
#else
#error "CForkServer_wait_call: write its assembly for this architecture (x86_64 and aarch64 have it)"
#endif

static bool pc_within(uintptr_t pc, uintptr_t from, uintptr_t to) {
    return pc >= from && pc < to;
}

// Called by a handler that recorded a signal: the server's wait returns EINTR, now if the
// handler interrupted it before its system call had returned, or once a handler of the
// program's own that interrupted it has returned.
void cforkserver_end_wait(void *context) {
    ucontext_t *interrupted = context;
    uintptr_t *pc = interrupted_pc(interrupted);
    if (pc_within(*pc, (uintptr_t)CForkServer_wait_call_begin, (uintptr_t)CForkServer_wait_call_end)) {
        *pc = (uintptr_t)CForkServer_wait_call_cancelled;
    } else if (cforkserver_signal_state->waiting && !pc_within(*pc, (uintptr_t)CForkServer_wait_call, (uintptr_t)CForkServer_wait_call_done)) {
        // Blocked in the interrupted handler, pending until its return restores the wait's mask.
        sigaddset(&interrupted->uc_sigmask, SIGCHLD);
        cforkserver_signal_state->kicked = 1;
        raise(SIGCHLD);
    }
}

static int wait_call(unsigned seen, long number, long a, long b, long c, long d, long e) {
    struct signal_state *state = cforkserver_signal_state;
    if (state->kicked) {
        // A handler of the program's own that jumped out of the last wait, rather than return
        // into it, left `waiting` set, and a kick may have blocked SIGCHLD here for good: no
        // child would be reaped again. Unblocked, the pending one is delivered now.
        state->kicked = 0;
        state->waiting = 0;
        sigset_t child;
        sigemptyset(&child);
        sigaddset(&child, SIGCHLD);
        sigprocmask(SIG_UNBLOCK, &child, NULL);
    }
    struct wait_call call = {.wakeups = &state->wakeups, .seen = seen, .number = number, .arguments = {a, b, c, d, e, 0}};
    long result = CForkServer_wait_call(&call);
    if (result < 0 && result > -4096) {
        errno = (int)-result;
        return -1;
    }
    return (int)result;
}

unsigned CForkServer_signals_wakeups(void) {
    return cforkserver_signal_state->wakeups;
}

int CForkServer_signals_accept(int fd, struct sockaddr *address, socklen_t *length, unsigned seen) {
    return wait_call(seen, SYS_accept4, fd, (long)address, (long)length, SOCK_CLOEXEC, 0);
}

int CForkServer_signals_poll(struct pollfd *fds, nfds_t count, int timeout_milliseconds, unsigned seen) {
    struct timespec timeout = {.tv_sec = timeout_milliseconds / 1000, .tv_nsec = (long)(timeout_milliseconds % 1000) * 1000000};
    // No signal mask: ppoll(2) is the call both architectures have; poll(2) is not on aarch64.
    return wait_call(seen, SYS_ppoll, (long)fds, (long)count, timeout_milliseconds < 0 ? 0 : (long)&timeout, 0, 0);
}
#endif
