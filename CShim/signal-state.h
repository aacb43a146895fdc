// What the signal handlers share with the rest of the shim: their state, and the few helpers
// that signals.c, signal-wait.c, fork.c and exec.c use across files. Private to the shim:
// include/CForkServer.h is the contract, and nothing here is exported from the module.
#ifndef CFORKSERVER_SIGNAL_STATE_H
#define CFORKSERVER_SIGNAL_STATE_H

#include "CForkServer.h"

#define CFORKSERVER_HIDDEN __attribute__((visibility("hidden")))

// Everything the handlers write. It lives on the top page of a mapping of its own, above the
// handlers' stack (sigaltstack(2)), and the whole mapping is MADV_WIPEONFORK: fork(2) neither
// copies nor write-protects it, so the server writes the counts and the signal frames at every
// child's end without a copy-on-write fault, and every child finds it zeroed. A zeroed
// `server_mark` is how a handler knows it runs in a child: unlike the server's pid compared with
// getpid(), it costs no system call and cannot mistake a later process given the same pid for
// the server. Where the kernel refuses MADV_WIPEONFORK (before Linux 4.14), the mapping is forked
// like any memory and `in_server` compares pids.
struct signal_state {
    volatile sig_atomic_t server_mark;
    // One more for every SIGCHLD; see CForkServer_signals_child_count. Unsigned, so that it wraps.
    volatile unsigned child_signals;
    // One more for every signal a handler recorded; see CForkServer_signals_wakeups. Unsigned, so
    // that it wraps.
    volatile unsigned wakeups;
    volatile sig_atomic_t shutdown_count;
    volatile sig_atomic_t shutdown_signal;
    volatile sig_atomic_t hangup_count;
    volatile sig_atomic_t quit_count;
    pid_t server_pid;
};
_Static_assert(sizeof(struct signal_state) <= 4096, "the signal state fits a page");

// NULL until CForkServer_signals_install has mapped it (signals.c).
CFORKSERVER_HIDDEN extern struct signal_state *cforkserver_signal_state;

// Whether the calling process is the server that installed the handlers (signals.c).
CFORKSERVER_HIDDEN bool cforkserver_in_server(void);

// sigaction(2) with a plain disposition: SIG_DFL, SIG_IGN, or a handler with no flags and an
// empty mask (signals.c).
CFORKSERVER_HIDDEN int cforkserver_set_disposition(int signo, void (*handler)(int));

// Every signal the server catches or ignores, which a program it runs must get back at its
// default (signals.c).
CFORKSERVER_HIDDEN void cforkserver_exec_defaults(sigset_t *set);

// The mask the server's waits run with: the mask at install, less the signals it catches, which
// are blocked everywhere else in the server (signals.c). A child forked to serve runs with it.
CFORKSERVER_HIDDEN extern sigset_t cforkserver_wait_mask;

#endif
