#define _GNU_SOURCE  // accept4, pipe2, execvpe, closefrom, splice, clone

#include "CForkServer.h"

#include <stdatomic.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

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

// The reaped record is a ring that the SIGCHLD handler writes at `head` and Swift reads at
// `tail`. A handler runs on the thread it interrupts, so each index has a single writer and
// lock-free atomics order everything: reading the record never blocks a signal. It holds 128
// children, to fit the state's page: more ended between two turns of the loop wait as zombies.
// A power of two, so that `index % RING_CAPACITY` stays right as the unsigned indices wrap.
#define RING_CAPACITY 128u
_Static_assert((RING_CAPACITY & (RING_CAPACITY - 1)) == 0, "the ring's capacity is a power of two");

// Everything the handlers write. It lives on the top page of a mapping of its own, above the
// handlers' stack (sigaltstack(2)), and the whole mapping is MADV_WIPEONFORK: fork(2) neither
// copies nor write-protects it, so the server writes the record and the signal frames at every
// reaped child without a copy-on-write fault, and every child finds it zeroed. A zeroed
// `server_mark` is how a handler knows it runs in a child: unlike the server's pid compared with
// getpid(), it costs no system call and cannot mistake a later process given the same pid for
// the server. Where the kernel refuses MADV_WIPEONFORK (before Linux 4.14), the mapping is forked
// like any memory and `in_server` compares pids.
struct signal_state {
    CForkServer_reaped_child ring[RING_CAPACITY];
    _Atomic unsigned head;
    _Atomic unsigned tail;
    // Set when the handler left zombies because the ring was full; see CForkServer_reaped_next.
    volatile sig_atomic_t overflowed;
    volatile sig_atomic_t server_mark;
    // One more for every signal a handler recorded; see CForkServer_signals_wakeups. Unsigned, so
    // that it wraps.
    volatile unsigned wakeups;
    // 1 while the server is in CForkServer_wait_call; see end_wait.
    volatile unsigned waiting;
    // Set when end_wait left SIGCHLD blocked in an interrupted handler; see wait_call.
    volatile sig_atomic_t kicked;
    volatile sig_atomic_t shutdown_count;
    volatile sig_atomic_t shutdown_signal;
    volatile sig_atomic_t hangup_count;
    volatile sig_atomic_t quit_count;
    pid_t server_pid;
};
_Static_assert(sizeof(struct signal_state) <= 4096, "the signal state fits a page");

static struct signal_state *signal_state = NULL;
static bool state_wipes_on_fork = false;

// The handlers' stack below the state: room for the frame of a signal, whose register state
// alone can take several KiB, and the handlers' own few calls. Pages never touched cost nothing.
#define SIGNAL_STACK_SIZE (64 * 1024)

// The signals this process inherited ignored across exec(2), found once at install: a program
// the server runs gets them back at their defaults.
static sigset_t inherited_ignored;

// MARK: - Waiting until a signal

// A system call the server waits in (accept4, ppoll), made only if no handler has recorded a
// signal since `seen`. Checked in C and then called, a signal landing between the check and the
// call would wait in the call, unanswered, until the next client. So the check and the call are
// one stretch of assembly, and a handler that interrupts it before the call has entered the
// kernel moves the program counter to `CForkServer_wait_call_cancelled`, which returns -EINTR.
// A call the signal interrupts inside the kernel returns -EINTR by itself; restarted after an
// SA_RESTART handler, its program counter is back on the instruction and it is cancelled the
// same way. glibc (for thread cancellation, since 2.41) and musl do the same.
//
// The stretch also marks itself `waiting`, for the one case the program counter cannot tell: a
// handler of the program's own interrupted it, and one of the server's interrupted that handler.
// The server's handler then leaves SIGCHLD pending and blocked until the other handler returns
// into the stretch, where SIGCHLD's handler ends the wait (musl re-sends its cancellation signal
// so). A handler that jumps out of the stretch instead of returning into it may leave SIGCHLD
// blocked in the code it jumps to, until the next wait unblocks it (wait_call).
struct wait_call {
    volatile unsigned *wakeups;
    unsigned seen;
    long number;
    long arguments[6];
};
_Static_assert(offsetof(struct wait_call, seen) == 8, "the assembly's offset of seen");
_Static_assert(offsetof(struct wait_call, number) == 16, "the assembly's offset of number");
_Static_assert(offsetof(struct wait_call, arguments) == 24, "the assembly's offset of arguments");
_Static_assert(offsetof(struct signal_state, waiting) == offsetof(struct signal_state, wakeups) + 4, "the assembly's offset of waiting");
_Static_assert(EINTR == 4, "the assembly's EINTR");

// Returns the kernel's result: a value, or -errno.
long CForkServer_wait_call(const struct wait_call *call);
// Where the program counter is before the call has returned: from `begin` to `end`.
extern const char CForkServer_wait_call_begin[];
extern const char CForkServer_wait_call_end[];
extern const char CForkServer_wait_call_cancelled[];
// The function's last byte and one.
extern const char CForkServer_wait_call_done[];

// What the two architectures' assembly shares: the symbols, global for end_wait and hidden from
// other modules, the function's frame for unwinders, and the section the compiler was in,
// restored after.
#define WAIT_CALL_SYMBOL(label) ".globl " label "\n.hidden " label "\n"
#define WAIT_CALL_BEGIN(type) \
    ".pushsection .text\n" \
    ".p2align 4\n" \
    WAIT_CALL_SYMBOL("CForkServer_wait_call") \
    WAIT_CALL_SYMBOL("CForkServer_wait_call_begin") \
    WAIT_CALL_SYMBOL("CForkServer_wait_call_end") \
    WAIT_CALL_SYMBOL("CForkServer_wait_call_cancelled") \
    WAIT_CALL_SYMBOL("CForkServer_wait_call_done") \
    ".type CForkServer_wait_call, " type "\n" \
    "CForkServer_wait_call:\n" \
    ".cfi_startproc\n"
#define WAIT_CALL_END \
    "CForkServer_wait_call_done:\n" \
    ".cfi_endproc\n" \
    ".size CForkServer_wait_call, .-CForkServer_wait_call\n" \
    ".popsection\n"

#if defined(__x86_64__)
// The request in rdi, kept in rbx (the system call keeps rbx); the call's number in rax, its
// arguments in rdi, rsi, rdx, r10, r8, r9.
__asm__(
    WAIT_CALL_BEGIN("@function")
    "    pushq %rbx\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %rbx, 0\n"
    "    movq %rdi, %rbx\n"
    "CForkServer_wait_call_begin:\n"
    "    movq (%rbx), %rax\n"
    "    movl $1, 4(%rax)\n"
    "    movl (%rax), %eax\n"
    "    cmpl 8(%rbx), %eax\n"
    "    jne CForkServer_wait_call_cancelled\n"
    "    movq 16(%rbx), %rax\n"
    "    movq 24(%rbx), %rdi\n"
    "    movq 32(%rbx), %rsi\n"
    "    movq 40(%rbx), %rdx\n"
    "    movq 48(%rbx), %r10\n"
    "    movq 56(%rbx), %r8\n"
    "    movq 64(%rbx), %r9\n"
    "    syscall\n"
    "CForkServer_wait_call_end:\n"
    "    movq (%rbx), %rcx\n"
    "    movl $0, 4(%rcx)\n"
    "    .cfi_remember_state\n"
    "    popq %rbx\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    .cfi_restore %rbx\n"
    "    ret\n"
    "    .cfi_restore_state\n"
    "CForkServer_wait_call_cancelled:\n"
    "    movq (%rbx), %rcx\n"
    "    movl $0, 4(%rcx)\n"
    "    movq $-4, %rax\n"
    "    popq %rbx\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    .cfi_restore %rbx\n"
    "    ret\n"
    WAIT_CALL_END);

static uintptr_t *interrupted_pc(ucontext_t *context) {
    return (uintptr_t *)&context->uc_mcontext.gregs[REG_RIP];
}
#elif defined(__aarch64__)
// The request in x0, kept in x9 (the system call keeps every register but x0); the call's
// number in x8, its arguments in x0 to x5.
__asm__(
    WAIT_CALL_BEGIN("%function")
    "    mov x9, x0\n"
    "CForkServer_wait_call_begin:\n"
    "    ldr x10, [x9]\n"
    "    mov w11, #1\n"
    "    str w11, [x10, #4]\n"
    "    ldr w11, [x10]\n"
    "    ldr w12, [x9, #8]\n"
    "    cmp w11, w12\n"
    "    b.ne CForkServer_wait_call_cancelled\n"
    "    ldr x8, [x9, #16]\n"
    "    ldr x0, [x9, #24]\n"
    "    ldr x1, [x9, #32]\n"
    "    ldr x2, [x9, #40]\n"
    "    ldr x3, [x9, #48]\n"
    "    ldr x4, [x9, #56]\n"
    "    ldr x5, [x9, #64]\n"
    "    svc #0\n"
    "CForkServer_wait_call_end:\n"
    "    ldr x10, [x9]\n"
    "    str wzr, [x10, #4]\n"
    "    ret\n"
    "CForkServer_wait_call_cancelled:\n"
    "    ldr x10, [x9]\n"
    "    str wzr, [x10, #4]\n"
    "    mov x0, #-4\n"
    "    ret\n"
    WAIT_CALL_END);

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
static void end_wait(void *context) {
    ucontext_t *interrupted = context;
    uintptr_t *pc = interrupted_pc(interrupted);
    if (pc_within(*pc, (uintptr_t)CForkServer_wait_call_begin, (uintptr_t)CForkServer_wait_call_end)) {
        *pc = (uintptr_t)CForkServer_wait_call_cancelled;
    } else if (signal_state->waiting && !pc_within(*pc, (uintptr_t)CForkServer_wait_call, (uintptr_t)CForkServer_wait_call_done)) {
        // Blocked in the interrupted handler, pending until its return restores the wait's mask.
        sigaddset(&interrupted->uc_sigmask, SIGCHLD);
        signal_state->kicked = 1;
        raise(SIGCHLD);
    }
}

static int wait_call(unsigned seen, long number, long a, long b, long c, long d, long e) {
    if (signal_state->kicked) {
        // A handler of the program's own that jumped out of the last wait, rather than return
        // into it, left `waiting` set, and a kick may have blocked SIGCHLD here for good: no
        // child would be reaped again. Unblocked, the pending one is delivered now.
        signal_state->kicked = 0;
        signal_state->waiting = 0;
        sigset_t child;
        sigemptyset(&child);
        sigaddset(&child, SIGCHLD);
        sigprocmask(SIG_UNBLOCK, &child, NULL);
    }
    struct wait_call call = {.wakeups = &signal_state->wakeups, .seen = seen, .number = number, .arguments = {a, b, c, d, e, 0}};
    long result = CForkServer_wait_call(&call);
    if (result < 0 && result > -4096) {
        errno = (int)-result;
        return -1;
    }
    return (int)result;
}

unsigned CForkServer_signals_wakeups(void) {
    return signal_state->wakeups;
}

int CForkServer_signals_accept(int fd, struct sockaddr *address, socklen_t *length, unsigned seen) {
    return wait_call(seen, SYS_accept4, fd, (long)address, (long)length, SOCK_CLOEXEC, 0);
}

int CForkServer_signals_poll(struct pollfd *fds, nfds_t count, int timeout_milliseconds, unsigned seen) {
    struct timespec timeout = {.tv_sec = timeout_milliseconds / 1000, .tv_nsec = (long)(timeout_milliseconds % 1000) * 1000000};
    // No signal mask: ppoll(2) is the call both architectures have; poll(2) is not on aarch64.
    return wait_call(seen, SYS_ppoll, (long)fds, (long)count, timeout_milliseconds < 0 ? 0 : (long)&timeout, 0, 0);
}

// MARK: - The handlers

// Reaps finished children into the ring until none is left or the ring is full; a child that
// finds no room stays a zombie until Swift has made room, so no status is ever lost.
static void reap_into_record(void) {
    unsigned head = atomic_load_explicit(&signal_state->head, memory_order_relaxed);
    for (;;) {
        if (head - atomic_load_explicit(&signal_state->tail, memory_order_acquire) == RING_CAPACITY) {
            signal_state->overflowed = 1;
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
        signal_state->ring[head % RING_CAPACITY] = (CForkServer_reaped_child){.pid = pid, .status = status, .ended_nanoseconds = ended};
        head += 1;
        atomic_store_explicit(&signal_state->head, head, memory_order_release);
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

// Whether the handler runs in the server. A child forked to serve keeps every handler of the
// server (resetting them would cost it system calls), so in any other process they must act as
// that child's dispositions: SIGINT ignored, SIGCHLD at its default, the others at theirs.
static bool in_server(void) {
    if (signal_state == NULL) {
        return false;
    }
    if (state_wipes_on_fork) {
        return signal_state->server_mark == 1;
    }
    return signal_state->server_pid != 0 && getpid() == signal_state->server_pid;
}

// The default action of SIGTERM, SIGHUP or SIGQUIT: the signal is blocked while its handler runs,
// so the raised one is delivered, at its default, as the handler returns.
static void act_as_default(int signo) {
    set_disposition(signo, SIG_DFL);
    raise(signo);
}

// Outside the server it reaps nothing: a child's own children wait for it, as at SIGCHLD's
// default.
static void on_sigchld(int signo, siginfo_t *info, void *context) {
    (void)signo;
    (void)info;
    if (!in_server()) {
        return;
    }
    int saved = errno;
    reap_into_record();
    signal_state->wakeups += 1;
    end_wait(context);
    errno = saved;
}

// SIGTERM, SIGINT, SIGHUP and SIGQUIT: in the server, counted. In a child forked to serve,
// SIGINT is ignored (Ctrl-C in a terminal reaches the whole group, and the server drains on it),
// the others act as the default action. A child of `ChildProcess.fork` sets SIGINT back to its
// default first thing, and loses one that comes earlier.
static void on_request(int signo, siginfo_t *info, void *context) {
    (void)info;
    int saved = errno;
    if (in_server()) {
        switch (signo) {
        case SIGHUP:
            signal_state->hangup_count += 1;
            break;
        case SIGQUIT:
            signal_state->quit_count += 1;
            break;
        default:
            signal_state->shutdown_signal = signo;
            signal_state->shutdown_count += 1;
        }
        signal_state->wakeups += 1;
        end_wait(context);
    } else if (signo != SIGINT) {
        act_as_default(signo);
    }
    errno = saved;
}

// MARK: - Signals

static int set_handler(int signo, void (*handler)(int, siginfo_t *, void *)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    // SA_RESTART: a signal does not fail the server's other calls (a log line's write); the
    // waits end by end_wait.
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
    // The handlers share the record: none may interrupt another.
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
    signal_state->server_pid = 0;
    signal_state->server_mark = 0;
    errno = saved;
}

// Maps the state and the handlers' stack, once per process tree: a child of a server finds the
// mapping at the same address, wiped (or copied), and makes it its own.
static int map_signal_state(void) {
    if (signal_state != NULL) {
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
    signal_state = (struct signal_state *)(mapping + page + stack);
    return 0;
}

int CForkServer_signals_install(void) {
    if (in_server()) {
        return 0;
    }
    if (map_signal_state() == -1) {
        return -1;
    }
    // In a child of a server, what it inherited belongs to the server.
    memset(signal_state, 0, sizeof *signal_state);
    signal_state->server_pid = getpid();
    signal_state->server_mark = 1;
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

int CForkServer_signals_shutdown_count(void) {
    return signal_state->shutdown_count;
}

int CForkServer_signals_shutdown_signal(void) {
    return signal_state->shutdown_signal;
}

int CForkServer_signals_hangup_count(void) {
    return signal_state->hangup_count;
}

int CForkServer_signals_quit_count(void) {
    return signal_state->quit_count;
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
    unsigned tail = atomic_load_explicit(&signal_state->tail, memory_order_relaxed);
    if (tail == atomic_load_explicit(&signal_state->head, memory_order_acquire)) {
        if (!signal_state->overflowed) {
            return false;
        }
        // The ring is empty now: let the handler reap the children it had no room for.
        signal_state->overflowed = 0;
        raise(SIGCHLD);
        if (tail == atomic_load_explicit(&signal_state->head, memory_order_acquire)) {
            return false;
        }
    }
    *child = signal_state->ring[tail % RING_CAPACITY];
    atomic_store_explicit(&signal_state->tail, tail + 1, memory_order_release);
    return true;
}

// MARK: - Fork

pid_t CForkServer_fork(int *error, bool server_child) {
    pid_t pid = fork();
    if (pid == 0) {
        // A child forked to serve keeps the server's handlers and mask: the handlers act as its
        // dispositions (see in_server), and the loop blocks no signal. Any other child gets
        // SIGINT and SIGCHLD at their defaults and, whatever its parent blocks (fork-bench
        // blocks SIGINT and SIGTERM for a signalfd), no signal blocked.
        if (!server_child) {
            set_disposition(SIGINT, SIG_DFL);
            set_disposition(SIGCHLD, SIG_DFL);
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
    // that cannot be written now does not keep the client from its program, as in the server.
    CForkServer_log_write(request->log_buffer, length);
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
    // tcpserver's order: the pid and ok or deny lines come before anything the program writes.
    // Written while SIGPIPE is still ignored: a log on a pipe with no reader must not kill the
    // client's program before it runs. Where signals are blocked (a spawned child), that write
    // leaves SIGPIPE pending; ignoring it again discards it (sigaction(2)), before the defaults.
    write_log_lines(request);
    set_disposition(SIGPIPE, SIG_IGN);
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

