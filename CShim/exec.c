// What a child does between its start and its program, the way tcpserver's child does it for a
// connection: run by the spawned child of spawn.c, and by a child the server forked.
#define _GNU_SOURCE  // execvpe, closefrom

#include "signal-state.h"

// This process's pid in decimal, last digit first; returns how many digits.
static int pid_digits(char digits[16]) {
    int count = 0;
    for (unsigned pid = (unsigned)getpid(); pid > 0 || count == 0; pid /= 10) {
        digits[count++] = (char)('0' + pid % 10);
    }
    return count;
}

// Writes the request's log lines with each CFORKSERVER_SPAWN_PID_MARK replaced by this pid.
static void write_log_lines(const CForkServer_spawn_request *request) {
    char digits[16];
    int count = pid_digits(digits);
    size_t length = 0;
    for (size_t index = 0; index < request->log_length && length + sizeof digits <= request->log_capacity; index++) {
        if (request->log[index] == CFORKSERVER_SPAWN_PID_MARK) {
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

// Sets the signals of `server_signals` to their default action. sigaction(2) fails only for a
// signal that does not exist or cannot be caught (SIGKILL, SIGSTOP, and the two glibc keeps for
// itself, SIGCANCEL and SIGSETXID, which sigfillset(3) leaves out): no set here asks for those.
static void restore_default_signals(bool server_signals) {
    sigset_t defaults;
    if (server_signals) {
        // The server's dispositions back to the defaults: caught ones would go at exec(2) by
        // themselves, ignored ones would not. A few calls, not one for every signal: this is the
        // path of every connection.
        cforkserver_exec_defaults(&defaults);
    } else {
        // Any other caller's: whatever it catches or ignores, its program starts from the
        // defaults, as posix_spawn(3) with every signal in POSIX_SPAWN_SETSIGDEF would leave it.
        sigfillset(&defaults);
        sigdelset(&defaults, SIGKILL);
        sigdelset(&defaults, SIGSTOP);
    }
    for (int signo = 1; signo < NSIG; signo++) {
        if (sigismember(&defaults, signo) == 1) {
            cforkserver_set_disposition(signo, SIG_DFL);
        }
    }
}

// Puts one of descriptors 0, 1 and 2 in place; 0, or -1 with errno set.
static int place_stream(int target, const CForkServer_spawn_stream *stream) {
    switch (stream->kind) {
    case CFORKSERVER_SPAWN_DUPLICATE:
        if (stream->fd == target) {
            // dup2(2) onto itself changes nothing, close-on-exec included, and exec(2) would
            // close the descriptor: cleared here, as posix_spawn_file_actions_adddup2(3) does.
            int flags = fcntl(target, F_GETFD);
            return flags == -1 ? -1 : fcntl(target, F_SETFD, flags & ~FD_CLOEXEC);
        }
        return dup2(stream->fd, target) == -1 ? -1 : 0;
    case CFORKSERVER_SPAWN_OPEN: {
        // Closed first, as posix_spawn_file_actions_addopen(3) does: a process at its limit of
        // descriptors can still open the file, and open(2) returns this very descriptor when
        // every lower one is open. Its close fails only when it was not open (EBADF).
        close(target);
        int opened = open(stream->path, stream->flags);
        if (opened == -1 || opened == target) {
            return opened == -1 ? -1 : 0;
        }
        if (dup2(opened, target) == -1) {
            return -1;
        }
        // Fails only for a descriptor that is not open, and this one is.
        close(opened);
        return 0;
    }
    default:
        return 0;
    }
}

// Puts the request's extra descriptors at 3, 4, ... in order; 0, or -1 with errno set (EINVAL
// for more than CFORKSERVER_SPAWN_MAX_EXTRA). Each is first copied above the last target
// (F_DUPFD), all before any is placed, so that no source is overwritten by another's dup2(2)
// whatever their numbers; the copies are closed with the rest (closefrom). dup2(2) clears
// close-on-exec on its target. On the stack: a spawned child must not allocate.
static int place_extra_descriptors(const CForkServer_spawn_request *request) {
    if (request->extra_count > CFORKSERVER_SPAWN_MAX_EXTRA) {
        errno = EINVAL;
        return -1;
    }
    int first_free = 3 + (int)request->extra_count;
    int copies[CFORKSERVER_SPAWN_MAX_EXTRA];
    for (size_t index = 0; index < request->extra_count; index++) {
        copies[index] = fcntl(request->extra_fds[index], F_DUPFD_CLOEXEC, first_free);
        if (copies[index] == -1) {
            return -1;
        }
    }
    for (size_t index = 0; index < request->extra_count; index++) {
        if (dup2(copies[index], 3 + (int)index) == -1) {
            return -1;
        }
    }
    return 0;
}

// Sets the request's resource limits, soft and hard alike, then its niceness; 0, or -1 with errno
// set. setrlimit(2) fails only for a hard limit raised without CAP_SYS_RESOURCE, or a descriptor
// limit above fs.nr_open (EPERM), and setpriority(2) for a niceness lowered without the right
// (EACCES): a server checks both at its start (ProcessLimits.check).
static int set_limits(const CForkServer_spawn_request *request) {
    for (size_t index = 0; index < request->limit_count; index++) {
        struct rlimit limit = {.rlim_cur = request->limits[index].value, .rlim_max = request->limits[index].value};
        if (setrlimit((__rlimit_resource_t)request->limits[index].resource, &limit) == -1) {
            return -1;
        }
    }
    return request->nice_increment == 0 ? 0 : CForkServer_nice(request->nice_increment);
}

// Moves this process into the request's cgroups (a write of "0", which stands for the writer,
// to each `cgroup.procs`), then makes it a child subreaper if asked; 0, or -1 with errno set.
static int contain(const CForkServer_spawn_request *request) {
    for (int index = 0; index < 3; index++) {
        if (request->cgroup_procs[index] >= 0 && write(request->cgroup_procs[index], "0", 1) == -1) {
            return -1;
        }
    }
    return request->child_subreaper ? CForkServer_become_child_subreaper() : 0;
}

void CForkServer_exec(const CForkServer_spawn_request *request, CForkServer_spawn_failure *failure) {
    // Contained first, before anything else runs: whatever starts from here on stays in the
    // connection's cgroups however it detaches, or comes back to this process when orphaned. A
    // process that cannot be contained does not run its program, and writes no line: it is
    // reported as a step of its own.
    if (contain(request) == -1) {
        *failure = (CForkServer_spawn_failure){.step = CFORKSERVER_SPAWN_CONTAINMENT, .error = errno};
        return;
    }
    // The group or session first, so that from here on no Ctrl-C meant for the caller's group
    // finds the program's signals at their defaults. For a connection, a group of its own: the
    // drain signals the program and whatever it starts, and a terminal's Ctrl-C for the server's
    // group does not reach it. Neither call can fail in a child just made by fork(2) or clone(2):
    // setpgid(0, 0) fails only with EPERM for a session leader, and setsid(2) only with EPERM when
    // a group's id is the caller's pid, and a new child's pid names no group or session (the
    // kernel does not hand out a pid still in use as one). Were they to fail all the same, the
    // program would run in the caller's group, as every program tcpserver and s6-tcpserverd start
    // does, and the drain would signal it by its pid alone (Supervisor's send).
    if (request->grouping == CFORKSERVER_SPAWN_NEW_GROUP) {
        setpgid(0, 0);
    } else if (request->grouping == CFORKSERVER_SPAWN_NEW_SESSION) {
        setsid();
    }
    // tcpserver's order: the pid and ok or deny lines come before anything the program writes.
    // Written while SIGPIPE is still ignored (by the server: only it asks for lines): a log on a
    // pipe with no reader must not kill the client's program before it runs. Where signals are
    // blocked (a spawned child), that write leaves SIGPIPE pending; ignoring it again discards it
    // (sigaction(2)), before the defaults.
    if (request->log != NULL && request->log_length > 0) {
        write_log_lines(request);
        cforkserver_set_disposition(SIGPIPE, SIG_IGN);
    }
    restore_default_signals(request->server_signals);
    if (request->exit_status != 0) {
        _exit(request->exit_status);
    }
    for (int target = STDIN_FILENO; target <= STDERR_FILENO; target++) {
        if (place_stream(target, &request->streams[target]) == -1) {
            *failure = (CForkServer_spawn_failure){.step = CFORKSERVER_SPAWN_DESCRIPTORS, .error = errno};
            return;
        }
    }
    if (place_extra_descriptors(request) == -1) {
        *failure = (CForkServer_spawn_failure){.step = CFORKSERVER_SPAWN_DESCRIPTORS, .error = errno};
        return;
    }
    // Every descriptor but the standard three and the extra ones, a connection's own among them
    // (close_range(2), or where the kernel refuses it, each descriptor /proc/self/fd lists:
    // glibc's closefrom).
    closefrom(3 + (int)request->extra_count);
    // The limits last of the child's own steps, so that none of them runs under a limit meant
    // for the program (a limit on descriptors below 3 would refuse the dup2(2) above); a failure
    // is reported as a step of its own, not as the program's.
    if (set_limits(request) == -1) {
        *failure = (CForkServer_spawn_failure){.step = CFORKSERVER_SPAWN_LIMITS, .error = errno};
        return;
    }
    // The program's environment names its pid: in the request's room (a spawned child shares
    // the caller's memory, which the caller has set aside for it and reads no more).
    if (request->pid_value != NULL) {
        char digits[16];
        char *value = request->pid_value;
        for (int digit = pid_digits(digits) - 1; digit >= 0; digit--) {
            *value++ = digits[digit];
        }
        *value = 0;
    }
    // Last: a spawned child keeps every signal blocked until its program is about to run.
    // sigprocmask(2) fails only for a bad `how` or pointer.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (request->search_path) {
        execvpe(request->file, request->argv, request->envp);
    } else {
        execve(request->file, request->argv, request->envp);
    }
    *failure = (CForkServer_spawn_failure){.step = CFORKSERVER_SPAWN_PROGRAM, .error = errno};
}
