// The reaped record: the SIGCHLD handler reaps finished children into a ring in the signal state
// (signal-state.h), and Swift takes them out, lock-free, one at a time.
#include "signal-state.h"

// Reaps finished children into the ring until none is left or the ring is full; a child that
// finds no room stays a zombie until Swift has made room, so no status is ever lost.
void cforkserver_reap_into_record(void) {
    struct signal_state *state = cforkserver_signal_state;
    unsigned head = atomic_load_explicit(&state->head, memory_order_relaxed);
    for (;;) {
        if (head - atomic_load_explicit(&state->tail, memory_order_acquire) == RING_CAPACITY) {
            state->overflowed = 1;
            return;
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;
        }
        // clock_gettime(2) is async-signal-safe: the end is timed here, not when Swift gets to it.
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t ended = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        state->ring[head % RING_CAPACITY] = (CForkServer_reaped_child){.pid = pid, .status = status, .ended_nanoseconds = ended};
        head += 1;
        atomic_store_explicit(&state->head, head, memory_order_release);
    }
}

bool CForkServer_reaped_next(CForkServer_reaped_child *child) {
    struct signal_state *state = cforkserver_signal_state;
    unsigned tail = atomic_load_explicit(&state->tail, memory_order_relaxed);
    if (tail == atomic_load_explicit(&state->head, memory_order_acquire)) {
        if (!state->overflowed) {
            return false;
        }
        // The ring is empty now: let the handler reap the children it had no room for. In the
        // server, which blocks SIGCHLD but in its waits, that is at the next wait, which then
        // returns at once.
        state->overflowed = 0;
        raise(SIGCHLD);
        if (tail == atomic_load_explicit(&state->head, memory_order_acquire)) {
            return false;
        }
    }
    *child = state->ring[tail % RING_CAPACITY];
    atomic_store_explicit(&state->tail, tail + 1, memory_order_release);
    return true;
}
