#define _GNU_SOURCE  // accept4, pipe2, execvpe, closefrom, splice, clone

#include "CForkServer.h"

#include <stdatomic.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>

int CForkServer_errno(void) {
    return errno;
}

int CForkServer_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int CForkServer_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

ssize_t CForkServer_splice(int from, int to, size_t length) {
    return splice(from, NULL, to, NULL, length, SPLICE_F_MOVE);
}

_Static_assert(CFORKSERVER_POSIX_SPAWN_SETSID == POSIX_SPAWN_SETSID, "glibc's POSIX_SPAWN_SETSID");
_Static_assert(CFORKSERVER_F_SETPIPE_SZ == F_SETPIPE_SZ, "glibc's F_SETPIPE_SZ");

int CForkServer_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

// MARK: - State shared with the signal handlers

// Everything the handlers write, on one page of its own. After each fork(2) the first write to a
// page costs the writer a copy-on-write fault; the server writes this state at every reaped
// child, so keeping it on one page keeps that to one fault, and a child never writes it.
//
// The reaped record is a ring that the SIGCHLD handler writes at `head` and Swift reads at
// `tail`. A handler runs on the thread it interrupts, so each index has a single writer and
// lock-free atomics order everything: reading the record never blocks a signal. It holds 128
// children, to fit the page: more ended between two turns of the loop wait as zombies.
// A power of two, so that `index % RING_CAPACITY` stays right as the unsigned indices wrap.
#define RING_CAPACITY 128u
_Static_assert((RING_CAPACITY & (RING_CAPACITY - 1)) == 0, "the ring's capacity is a power of two");
static union {
    struct {
    CForkServer_reaped_child ring[RING_CAPACITY];
    _Atomic unsigned head;
    _Atomic unsigned tail;
    // Set when the handler left zombies because the ring was full; see CForkServer_reaped_next.
    volatile sig_atomic_t overflowed;
    volatile sig_atomic_t shutdown_count;
    volatile sig_atomic_t shutdown_signal;
    volatile sig_atomic_t hangup_count;
    volatile sig_atomic_t quit_count;
    int wake_pipe[2];
    // The process that installed the handlers, for `in_server` where the kernel has no
    // MADV_WIPEONFORK.
    pid_t server_pid;
    };
    // The whole page: nothing else the program writes may share it.
    char page[4096];
} signal_state_page __attribute__((aligned(4096))) = {.wake_pipe = {-1, -1}};
#define signal_state signal_state_page
_Static_assert(sizeof signal_state_page == 4096, "the signal state is one page");

// 1 in the server, on a page marked MADV_WIPEONFORK, which every child forked from it finds
// zeroed: unlike the server's pid compared with getpid(), it costs the server no system call
// at each fork and cannot mistake a later process given the same pid for the server. A child
// reads it only when a signal reaches it or when it forks in turn.
static volatile sig_atomic_t *server_mark = NULL;

// The signals this process inherited ignored across exec(2), found once at install: a program
// the server runs gets them back at their defaults.
static sigset_t inherited_ignored;

static void wake(void) {
    // The pipe is non-blocking: when it is full, the reader is already due to wake.
    char byte = 0;
    ssize_t ignored = write(signal_state.wake_pipe[1], &byte, 1);
    (void)ignored;
}

// Reaps finished children into the ring until none is left or the ring is full; a child that
// finds no room stays a zombie until Swift has made room, so no status is ever lost.
static void reap_into_record(void) {
    unsigned head = atomic_load_explicit(&signal_state.head, memory_order_relaxed);
    for (;;) {
        if (head - atomic_load_explicit(&signal_state.tail, memory_order_acquire) == RING_CAPACITY) {
            signal_state.overflowed = 1;
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
        signal_state.ring[head % RING_CAPACITY] = (CForkServer_reaped_child){.pid = pid, .status = status, .ended_nanoseconds = ended};
        head += 1;
        atomic_store_explicit(&signal_state.head, head, memory_order_release);
    }
}

// A plain disposition: SIG_DFL, SIG_IGN, or a handler with no flags. The zeroed mask is empty:
// no sigemptyset(3), whose code would be one more page for a new child to fault in.
static int set_disposition(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    return sigaction(signo, &action, NULL);
}

// Whether the handler runs in the server. A child keeps the server's handlers for SIGTERM,
// SIGHUP and SIGQUIT (resetting them would cost each child three system calls), so in any other
// process they must act as the default action would.
static bool in_server(void) {
    if (server_mark != NULL) {
        return *server_mark == 1;
    }
    return signal_state.server_pid != 0 && getpid() == signal_state.server_pid;
}

// The default action of SIGTERM, SIGHUP or SIGQUIT: the signal is blocked while its handler runs,
// so the raised one is delivered, at its default, as the handler returns.
static void act_as_default(int signo) {
    set_disposition(signo, SIG_DFL);
    raise(signo);
}

// A child resets SIGCHLD to its default with its second call after fork(2); until then this
// handler finds no child of its own to reap, and its byte only wakes the server for nothing.
static void on_sigchld(int signo) {
    (void)signo;
    int saved = errno;
    reap_into_record();
    wake();
    errno = saved;
}

// SIGTERM, SIGINT, SIGHUP and SIGQUIT: in the server, counted and woken for. SIGINT reaches this
// handler in a child only before the child sets SIGINT's disposition, first thing after fork(2);
// it is ignored there, as a server's children ignore it (a child of `ChildProcess.fork`, whose
// SIGINT is at its default after that call, loses one that early).
static void on_request(int signo) {
    int saved = errno;
    if (in_server()) {
        switch (signo) {
        case SIGHUP:
            signal_state.hangup_count += 1;
            break;
        case SIGQUIT:
            signal_state.quit_count += 1;
            break;
        default:
            signal_state.shutdown_signal = signo;
            signal_state.shutdown_count += 1;
        }
        wake();
    } else if (signo != SIGINT) {
        act_as_default(signo);
    }
    errno = saved;
}

// MARK: - Signals

static int set_handler(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
    // The handlers share the record and the pipe: none may interrupt another.
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGCHLD);
    sigaddset(&action.sa_mask, SIGTERM);
    sigaddset(&action.sa_mask, SIGINT);
    sigaddset(&action.sa_mask, SIGHUP);
    sigaddset(&action.sa_mask, SIGQUIT);
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
    set_disposition(SIGCHLD, SIG_DFL);
    set_disposition(SIGTERM, SIG_DFL);
    set_disposition(SIGINT, SIG_DFL);
    set_disposition(SIGHUP, SIG_DFL);
    set_disposition(SIGQUIT, SIG_DFL);
    close(signal_state.wake_pipe[0]);
    close(signal_state.wake_pipe[1]);
    signal_state.wake_pipe[0] = signal_state.wake_pipe[1] = -1;
    signal_state.server_pid = 0;
    if (server_mark != NULL) {
        *server_mark = 0;
    }
    errno = saved;
}

// Maps `server_mark`'s page once per process that installs. Where the kernel refuses
// MADV_WIPEONFORK (before Linux 4.14), `in_server` compares pids instead.
static void map_server_mark(void) {
    if (server_mark != NULL) {
        return;
    }
    size_t size = (size_t)sysconf(_SC_PAGESIZE);
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return;
    }
    if (madvise(page, size, MADV_WIPEONFORK) == -1) {
        munmap(page, size);
        return;
    }
    server_mark = page;
}

int CForkServer_signals_install(void) {
    if (in_server()) {
        return 0;
    }
    // In a child of a server, what it inherited belongs to the server: fork closed the pipe.
    int saved = errno;
    map_server_mark();
    errno = saved;
    signal_state.server_pid = 0;
    atomic_store(&signal_state.head, 0);
    atomic_store(&signal_state.tail, 0);
    signal_state.overflowed = 0;
    signal_state.shutdown_count = 0;
    signal_state.shutdown_signal = 0;
    signal_state.hangup_count = 0;
    signal_state.quit_count = 0;
    if (pipe2(signal_state.wake_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
        return -1;
    }
    signal_state.server_pid = getpid();
    if (server_mark != NULL) {
        *server_mark = 1;
    }
    find_inherited_ignored();
    if (set_disposition(SIGPIPE, SIG_IGN) == -1
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
    sigaddset(&handled, SIGCHLD);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGHUP);
    sigaddset(&handled, SIGQUIT);
    if (sigprocmask(SIG_UNBLOCK, &handled, NULL) == -1) {
        uninstall();
        return -1;
    }
    return 0;
}

int CForkServer_signal_restore_default(int signo) {
    if (set_disposition(signo, SIG_DFL) == -1) {
        return -1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int CForkServer_signal_ignore(int signo) {
    return set_disposition(signo, SIG_IGN);
}

int CForkServer_set_parent_death_signal(int signo) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signo, 0UL, 0UL, 0UL);
}

int CForkServer_signals_wake_fd(void) {
    return signal_state.wake_pipe[0];
}

void CForkServer_signals_drain_wake_fd(void) {
    // A read of a pipe returns what it holds up to the size asked: a short read emptied it.
    char buffer[64];
    while (read(signal_state.wake_pipe[0], buffer, sizeof buffer) == (ssize_t)sizeof buffer) {
    }
}

int CForkServer_signals_shutdown_count(void) {
    return signal_state.shutdown_count;
}

int CForkServer_signals_shutdown_signal(void) {
    return signal_state.shutdown_signal;
}

int CForkServer_signals_hangup_count(void) {
    return signal_state.hangup_count;
}

int CForkServer_signals_quit_count(void) {
    return signal_state.quit_count;
}

// Every signal the server catches or ignores, which a program must get back at its default.
static void add_exec_defaults(sigset_t *set) {
    *set = inherited_ignored;
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGPIPE);
}

void CForkServer_sigchld_block(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

void CForkServer_sigchld_unblock(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

// MARK: - Reaping

bool CForkServer_reaped_next(CForkServer_reaped_child *child) {
    unsigned tail = atomic_load_explicit(&signal_state.tail, memory_order_relaxed);
    if (tail == atomic_load_explicit(&signal_state.head, memory_order_acquire)) {
        if (!signal_state.overflowed) {
            return false;
        }
        // The ring is empty now: let the handler reap the children it had no room for.
        signal_state.overflowed = 0;
        raise(SIGCHLD);
        if (tail == atomic_load_explicit(&signal_state.head, memory_order_acquire)) {
            return false;
        }
    }
    *child = signal_state.ring[tail % RING_CAPACITY];
    atomic_store_explicit(&signal_state.tail, tail + 1, memory_order_release);
    return true;
}

// MARK: - Fork

pid_t CForkServer_fork(int *error, bool server_child) {
    // Only the server's children close its self-pipe: in a child of the server the descriptors
    // were closed at its own fork, and their numbers may name something else since.
    bool from_server = in_server();
    pid_t pid = fork();
    if (pid == 0) {
        // No signal is blocked across fork(2): the server's handlers, which the child holds
        // until these calls, treat a signal in the child as the child's dispositions would.
        set_disposition(SIGINT, server_child ? SIG_IGN : SIG_DFL);
        set_disposition(SIGCHLD, SIG_DFL);
        if (!server_child) {
            // Whatever its parent blocks (fork-bench blocks SIGINT and SIGTERM for a signalfd),
            // a child of ChildProcess.fork starts with none blocked. The server's loop blocks
            // none, so its children skip the call.
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
        }
        if (from_server) {
            close(signal_state.wake_pipe[0]);
            close(signal_state.wake_pipe[1]);
        }
        return 0;
    }
    if (pid == -1) {
        *error = errno;
    }
    return pid;
}

// MARK: - Wait status

int CForkServer_wifexited(int status) {
    return WIFEXITED(status);
}

int CForkServer_wexitstatus(int status) {
    return WEXITSTATUS(status);
}

int CForkServer_wifsignaled(int status) {
    return WIFSIGNALED(status);
}

int CForkServer_wtermsig(int status) {
    return WTERMSIG(status);
}

// MARK: - Running a program for a connection

// Writes the request's log lines with each CFORKSERVER_EXEC_PID_MARK replaced by this pid.
static void write_log_lines(const CForkServer_exec_request *request) {
    if (request->log == NULL || request->log_length == 0) {
        return;
    }
    char digits[16];
    int count = 0;
    for (unsigned pid = (unsigned)getpid(); pid > 0 || count == 0; pid /= 10) {
        digits[count++] = (char)('0' + pid % 10);
    }
    size_t length = 0;
    for (size_t index = 0; index < request->log_length && length + sizeof digits <= request->log_capacity; index++) {
        if (request->log[index] == CFORKSERVER_EXEC_PID_MARK) {
            for (int digit = count - 1; digit >= 0; digit--) {
                request->log_buffer[length++] = digits[digit];
            }
        } else {
            request->log_buffer[length++] = request->log[index];
        }
    }
    // One write, as every log line of the server: lines of concurrent processes never mix. A log
    // that cannot be written does not keep the client from its program, as in the server.
    ssize_t ignored = write(STDERR_FILENO, request->log_buffer, length);
    (void)ignored;
}

void CForkServer_exec_connection(const CForkServer_exec_request *request, CForkServer_exec_failure *failure) {
    // A group of its own: the drain signals the program and whatever it starts, and a terminal's
    // Ctrl-C for the server's group does not reach it. Made first, so that from here on no Ctrl-C
    // meant for the server finds the program's signals at their defaults. A failure is not a
    // reason to drop the client: setpgid(0, 0) fails only with EPERM for a session leader, which
    // a child just made by fork(2) or clone(2) never is (its pid names no session), and even then
    // the program would run in the server's group, as every program tcpserver and s6-tcpserverd
    // start does, and the drain would signal it by its pid alone (ForkingServer's send).
    setpgid(0, 0);
    // The server's dispositions back to the defaults: caught ones would go at exec(2) by
    // themselves, ignored ones would not. sigaction(2) fails only for a signal that does not
    // exist or cannot be caught, and the set holds neither.
    sigset_t defaults;
    add_exec_defaults(&defaults);
    for (int signo = 1; signo < NSIG; signo++) {
        if (sigismember(&defaults, signo) == 1) {
            set_disposition(signo, SIG_DFL);
        }
    }
    // tcpserver's order: the pid and ok or deny lines come before anything the program writes.
    write_log_lines(request);
    if (request->exit_status != 0) {
        _exit(request->exit_status);
    }
    if (dup2(request->connection, STDIN_FILENO) == -1 || dup2(request->connection, STDOUT_FILENO) == -1) {
        *failure = (CForkServer_exec_failure){.step = CFORKSERVER_EXEC_DESCRIPTORS, .error = errno};
        return;
    }
    // Every descriptor but the standard three, the connection's own among them (close_range(2),
    // or where the kernel refuses it, each descriptor /proc/self/fd lists: glibc's closefrom).
    closefrom(3);
    // Last: a spawned child keeps every signal blocked until its program is about to run.
    // sigprocmask(2) fails only for a bad `how` or pointer.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(request->file, request->argv, request->envp);
    *failure = (CForkServer_exec_failure){.step = CFORKSERVER_EXEC_PROGRAM, .error = errno};
}

// MARK: - Spawning a program for a connection

// The child of CForkServer_spawn_connection runs on this stack, in the server's memory, while the
// server waits (CLONE_VFORK): one child at a time, in a single-threaded server. It is mapped once
// with a guard page below it, and again larger when a program has more arguments than it holds
// (execvpe may copy argv onto the stack to run a script, as glibc's posix_spawn allows for).
static char *spawn_stack = NULL;
static size_t spawn_stack_size = 0;

static int reserve_spawn_stack(size_t arguments) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t wanted = 64 * 1024 + (arguments + 2) * sizeof(char *);
    wanted = (wanted + page - 1) / page * page;
    if (wanted <= spawn_stack_size) {
        return 0;
    }
    char *mapped = mmap(NULL, wanted + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapped == MAP_FAILED) {
        return -1;
    }
    if (mprotect(mapped, page, PROT_NONE) == -1) {
        int saved = errno;
        munmap(mapped, wanted + page);
        errno = saved;
        return -1;
    }
    if (spawn_stack != NULL) {
        munmap(spawn_stack - page, spawn_stack_size + page);
    }
    spawn_stack = mapped + page;
    spawn_stack_size = wanted;
    return 0;
}

struct spawn_state {
    const CForkServer_exec_request *request;
    CForkServer_exec_failure *failure;
};

static int spawn_child(void *argument) {
    // Every signal arrives blocked (the server blocked them all): no handler of the server's can
    // run here, in its memory, before CForkServer_exec_connection sets them back to the defaults.
    // A failure is written where the server reads it when this child has exited.
    struct spawn_state *state = argument;
    CForkServer_exec_connection(state->request, state->failure);
    _exit(111);
}

pid_t CForkServer_spawn_connection(const CForkServer_exec_request *request, int *error, CForkServer_exec_failure *failure) {
    size_t arguments = 0;
    while (request->argv[arguments] != NULL) {
        arguments++;
    }
    if (reserve_spawn_stack(arguments) == -1) {
        *error = errno;
        return -1;
    }
    // The child shares this thread's memory, errno included: what it leaves there is not ours.
    int caller_errno = errno;
    *failure = (CForkServer_exec_failure){.step = 0, .error = 0};
    struct spawn_state state = {.request = request, .failure = failure};
    sigset_t all, previous;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &previous);
    pid_t pid = clone(spawn_child, spawn_stack + spawn_stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &state);
    int saved = errno;
    sigprocmask(SIG_SETMASK, &previous, NULL);
    if (pid == -1) {
        *error = saved;
        return -1;
    }
    errno = caller_errno;
    return pid;
}

