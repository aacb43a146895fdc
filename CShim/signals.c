// The server's signals: the state the handlers write, the handlers themselves (SIGCHLD, SIGTERM,
// SIGINT, SIGHUP and SIGQUIT count), their installation, and the counts Swift reads.
// The handlers run no Swift and call only async-signal-safe functions.
#include "signal-state.h"

#include <sys/prctl.h>

struct signal_state *cforkserver_signal_state = NULL;
static bool state_wipes_on_fork = false;

// The handlers' stack below the state: room for the frame of a signal, whose register state
// alone can take several KiB, and the handlers' own few calls. Pages never touched cost nothing.
#define SIGNAL_STACK_SIZE (64 * 1024)

// The signals this process inherited ignored across exec(2), found once at install: a program
// the server runs gets them back at their defaults.
static sigset_t inherited_ignored;

sigset_t cforkserver_wait_mask;

// MARK: - The handlers

// A plain disposition: SIG_DFL, SIG_IGN, or a handler with no flags. The zeroed mask is empty:
// no sigemptyset(3), whose code would be one more page for a new child to fault in.
int cforkserver_set_disposition(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    return sigaction(signo, &action, NULL);
}

// Whether the handler runs in the server. A child forked to serve keeps every handler of the
// server (resetting them would cost it system calls), so in any other process they must act as
// that child's dispositions: SIGINT ignored, SIGCHLD at its default, the others at theirs.
bool cforkserver_in_server(void) {
    struct signal_state *state = cforkserver_signal_state;
    if (state == NULL) {
        return false;
    }
    if (state_wipes_on_fork) {
        return state->server_mark == 1;
    }
    return state->server_pid != 0 && getpid() == state->server_pid;
}

// The default action of SIGTERM, SIGHUP or SIGQUIT: the signal is blocked while its handler runs,
// so the raised one is delivered, at its default, as the handler returns.
static void act_as_default(int signo) {
    cforkserver_set_disposition(signo, SIG_DFL);
    raise(signo);
}

// Counts, and reaps nothing: the server's loop reaps its own children (reaped.c), and no other
// child of the process, which its owner waits for. In the server it runs only inside a wait
// (signal-wait.c), which then returns EINTR; outside the server it does nothing, as at SIGCHLD's
// default.
static void on_sigchld(int signo) {
    (void)signo;
    if (!cforkserver_in_server()) {
        return;
    }
    cforkserver_signal_state->child_signals += 1;
    cforkserver_signal_state->wakeups += 1;
}

// SIGTERM, SIGINT, SIGHUP and SIGQUIT: in the server, counted. In a child forked to serve,
// SIGINT is ignored (Ctrl-C in a terminal reaches the whole group, and the server drains on it),
// the others act as the default action. A child of `ChildProcess.fork` sets SIGINT back to its
// default first thing, and loses one that comes earlier.
static void on_request(int signo) {
    int saved = errno;
    if (cforkserver_in_server()) {
        struct signal_state *state = cforkserver_signal_state;
        switch (signo) {
        case SIGHUP:
            state->hangup_count += 1;
            break;
        case SIGQUIT:
            state->quit_count += 1;
            break;
        default:
            state->shutdown_signal = signo;
            state->shutdown_count += 1;
        }
        state->wakeups += 1;
    } else if (signo != SIGINT) {
        act_as_default(signo);
    }
    errno = saved;
}

// MARK: - Installing them

// The signals the server catches, each blocked while any of their handlers runs.
static void add_caught(sigset_t *set) {
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
}

static int set_handler(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    // SA_RESTART: in a child that keeps the handlers, a SIGINT they ignore does not fail its
    // calls. The server's waits end all the same: ppoll(2) is never restarted after a handler.
    action.sa_flags = SA_RESTART | SA_ONSTACK | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
    // The handlers share the counts: none may interrupt another.
    sigemptyset(&action.sa_mask);
    add_caught(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}

static void find_inherited_ignored(void) {
    sigemptyset(&inherited_ignored);
    for (int signo = 1; signo < NSIG; signo++) {
        struct sigaction current;
        if (sigaction(signo, NULL, &current) == 0 && current.sa_handler == SIG_IGN) {
            sigaddset(&inherited_ignored, signo);
        }
    }
}

// Undoes a failed CForkServer_signals_install, so that it can be tried again.
static void uninstall(void) {
    int saved = errno;
    cforkserver_set_disposition(SIGCHLD, SIG_DFL);
    cforkserver_set_disposition(SIGTERM, SIG_DFL);
    cforkserver_set_disposition(SIGINT, SIG_DFL);
    cforkserver_set_disposition(SIGHUP, SIG_DFL);
    cforkserver_set_disposition(SIGQUIT, SIG_DFL);
    cforkserver_signal_state->server_pid = 0;
    cforkserver_signal_state->server_mark = 0;
    errno = saved;
}

// Maps the state and the handlers' stack, once per process tree: a child of a server finds the
// mapping at the same address, wiped (or copied), and makes it its own.
static int map_signal_state(void) {
    if (cforkserver_signal_state != NULL) {
        return 0;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t stack = SIGNAL_STACK_SIZE;
    long wanted = sysconf(_SC_SIGSTKSZ);
    if (wanted > 0 && (size_t)wanted > stack) {
        stack = ((size_t)wanted + page - 1) / page * page;
    }
    // A guard page, the stack, the state.
    size_t size = page + stack + page;
    char *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) {
        return -1;
    }
    if (mprotect(mapping, page, PROT_NONE) == -1) {
        int saved = errno;
        munmap(mapping, size);
        errno = saved;
        return -1;
    }
    state_wipes_on_fork = madvise(mapping + page, stack + page, MADV_WIPEONFORK) == 0;
    stack_t handlers_stack = {.ss_sp = mapping + page, .ss_size = stack, .ss_flags = 0};
    stack_t current;
    // A stack somebody set already (a runtime's, for its crash handler) is kept; the handlers
    // run on it.
    if (sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE) != 0 && sigaltstack(&handlers_stack, NULL) == -1) {
        int saved = errno;
        munmap(mapping, size);
        errno = saved;
        return -1;
    }
    cforkserver_signal_state = (struct signal_state *)(mapping + page + stack);
    return 0;
}

int CForkServer_signals_install(void) {
    if (cforkserver_in_server()) {
        return 0;
    }
    if (map_signal_state() == -1) {
        return -1;
    }
    // In a child of a server, what it inherited belongs to the server.
    memset(cforkserver_signal_state, 0, sizeof *cforkserver_signal_state);
    cforkserver_signal_state->server_pid = getpid();
    cforkserver_signal_state->server_mark = 1;
    find_inherited_ignored();
    if (cforkserver_set_disposition(SIGPIPE, SIG_IGN) == -1
        || set_handler(SIGCHLD, on_sigchld) == -1
        || set_handler(SIGTERM, on_request) == -1
        || set_handler(SIGINT, on_request) == -1
        || set_handler(SIGHUP, on_request) == -1
        || set_handler(SIGQUIT, on_request) == -1) {
        uninstall();
        return -1;
    }
    sigset_t handled;
    sigemptyset(&handled);
    add_caught(&handled);
    // Blocked from here on but in the waits, which unblock them for as long as they wait.
    sigset_t previous;
    if (sigprocmask(SIG_BLOCK, &handled, &previous) == -1) {
        uninstall();
        return -1;
    }
    cforkserver_wait_mask = previous;
    sigdelset(&cforkserver_wait_mask, SIGCHLD);
    sigdelset(&cforkserver_wait_mask, SIGTERM);
    sigdelset(&cforkserver_wait_mask, SIGINT);
    sigdelset(&cforkserver_wait_mask, SIGHUP);
    sigdelset(&cforkserver_wait_mask, SIGQUIT);
    return 0;
}

// MARK: - Dispositions for other processes

int CForkServer_signal_restore_default(int signo) {
    if (cforkserver_set_disposition(signo, SIG_DFL) == -1) {
        return -1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int CForkServer_signal_ignore(int signo) {
    return cforkserver_set_disposition(signo, SIG_IGN);
}

int CForkServer_set_parent_death_signal(int signo) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signo, 0UL, 0UL, 0UL);
}

void cforkserver_exec_defaults(sigset_t *set) {
    *set = inherited_ignored;
    add_caught(set);
    sigaddset(set, SIGPIPE);
}

// MARK: - What the handlers recorded

int CForkServer_signals_shutdown_count(void) {
    return cforkserver_signal_state->shutdown_count;
}

int CForkServer_signals_shutdown_signal(void) {
    return cforkserver_signal_state->shutdown_signal;
}

int CForkServer_signals_hangup_count(void) {
    return cforkserver_signal_state->hangup_count;
}

int CForkServer_signals_quit_count(void) {
    return cforkserver_signal_state->quit_count;
}

unsigned CForkServer_signals_child_count(void) {
    return cforkserver_signal_state->child_signals;
}
