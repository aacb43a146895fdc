// Spawning a program for a connection without copying the server: clone(2) with CLONE_VM and
// CLONE_VFORK, whose child runs CForkServer_exec_connection (exec.c) on a stack of its own.
#define _GNU_SOURCE  // clone, CLONE_VM, CLONE_VFORK

#include "CForkServer.h"

#include <sched.h>

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

