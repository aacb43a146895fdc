// The package's one way to start a program: clone(2) with CLONE_VM | CLONE_VFORK, whose child
// runs CForkServer_exec (exec.c) on a stack of its own. forkserver starts each connection's
// program with it, and ChildProcess.spawn every other program (fork-bench's servers, the tests').
//
// Why one, and why this one. A connection's process must do what posix_spawn(3) cannot: write
// tcpserver's log lines with its own pid before the program runs, and exit 100 for a denied
// client without running anything. Those steps are C that runs in the child, so the package
// needs this spawner whatever else it has. posix_spawn beside it was a second spawner with rules
// of its own (its signal handling, its errors, glibc's two signals left ignored in every child),
// for no gain: this one does what it did, and reports a failure the same way, as an errno.
//
// Why clone(2) so: CLONE_VM copies no page table (fork(2) would copy the server's, and the child
// would fault in each page it touched before exec threw them all away), and CLONE_VFORK holds the
// caller until the child has exec'd or exited, so that the child reads the request in place and
// writes why it failed where the caller reads it. The child runs in the caller's memory, where no
// handler of the caller's may run: every signal is blocked across the clone, and the child
// unblocks them only once it has set them to their defaults, just before its exec.
#define _GNU_SOURCE  // clone, CLONE_VM, CLONE_VFORK

#include "CForkServer.h"

#include <sched.h>
#include <sys/syscall.h>

// The child's stack: a guard page below `base`, then `size` bytes.
struct spawn_stack {
    char *base;
    size_t size;
};

// Room for the child's few calls, and for execvpe(3), which may copy argv onto the stack to run
// a script, as glibc's posix_spawn allows for.
static size_t stack_size(const CForkServer_spawn_request *request, size_t page) {
    size_t arguments = 0;
    while (request->argv[arguments] != NULL) {
        arguments++;
    }
    size_t wanted = 64 * 1024 + (arguments + 2) * sizeof(char *);
    return (wanted + page - 1) / page * page;
}

static int map_stack(size_t size, size_t page, struct spawn_stack *stack) {
    char *mapped = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapped == MAP_FAILED) {
        return -1;
    }
    if (mprotect(mapped, page, PROT_NONE) == -1) {
        int saved = errno;
        munmap(mapped, size + page);
        errno = saved;
        return -1;
    }
    *stack = (struct spawn_stack){.base = mapped + page, .size = size};
    return 0;
}

// munmap(2) fails only for an address or length that no mapping of map_stack's has.
static void unmap_stack(struct spawn_stack stack, size_t page) {
    munmap(stack.base - page, stack.size + page);
}

// Where the child runs. The server spawns from its one thread, one child at a time (CLONE_VFORK
// holds it until the child is done with the stack): its children share one stack, kept for the
// process's life and mapped again larger only for a program with more arguments, so that a
// connection costs no mmap(2). Any other caller may spawn from several threads at once (Swift
// Testing runs tests in parallel), so each of its children runs on a stack mapped for the call
// and unmapped once the child has exec'd or exited, as glibc's posix_spawn does.
static struct spawn_stack reusable_stack = {.base = NULL, .size = 0};

static int reserve_reusable_stack(size_t size, size_t page) {
    if (size <= reusable_stack.size) {
        return 0;
    }
    struct spawn_stack larger;
    if (map_stack(size, page, &larger) == -1) {
        return -1;
    }
    if (reusable_stack.base != NULL) {
        unmap_stack(reusable_stack, page);
    }
    reusable_stack = larger;
    return 0;
}

// rt_sigprocmask(2) itself: glibc's sigprocmask leaves its own two signals (SIGCANCEL, SIGSETXID)
// unblocked whatever it is asked, and their handlers must not run in the child either. glibc's
// posix_spawn blocks them the same way. It fails only for a bad `how`, pointer or size.
static void set_signal_mask(const sigset_t *mask, sigset_t *previous) {
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, mask, previous, _NSIG / 8);
}

struct spawn_child {
    const CForkServer_spawn_request *request;
    CForkServer_spawn_failure *failure;
};

static int run_child(void *argument) {
    struct spawn_child *child = argument;
    CForkServer_exec(child->request, child->failure);
    _exit(child->request->failure_status);
}

pid_t CForkServer_spawn(const CForkServer_spawn_request *request, bool reuse_stack, int *error, CForkServer_spawn_failure *failure) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = stack_size(request, page);
    struct spawn_stack stack;
    int reserved = reuse_stack ? reserve_reusable_stack(size, page) : map_stack(size, page, &stack);
    if (reserved == -1) {
        *error = errno;
        return -1;
    }
    if (reuse_stack) {
        stack = reusable_stack;
    }
    // The child shares this thread's memory, errno included: what it leaves there is not ours.
    int caller_errno = errno;
    *failure = (CForkServer_spawn_failure){.step = 0, .error = 0};
    struct spawn_child child = {.request = request, .failure = failure};
    sigset_t all, previous;
    memset(&all, 0xff, sizeof all);
    set_signal_mask(&all, &previous);
    pid_t pid = clone(run_child, stack.base + stack.size, CLONE_VM | CLONE_VFORK | SIGCHLD, &child);
    int saved = errno;
    set_signal_mask(&previous, NULL);
    if (!reuse_stack) {
        unmap_stack(stack, page);
    }
    if (pid == -1) {
        *error = saved;
        return -1;
    }
    errno = caller_errno;
    return pid;
}
