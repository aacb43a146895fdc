// The C half of ForkServer: what Swift cannot do safely or at all.
//
// Signal handlers must not run Swift code, glibc's `struct sigaction` holds its handler in a
// union, the wait-status macros do not import, and some calls are declared only under
// _GNU_SOURCE. Everything else lives in Swift.
//
// This header also brings the glibc headers (libc6-dev) the package uses to Swift: the module
// map beside it re-exports them, so `import CForkServer` is all a Swift file needs.
#ifndef CFORKSERVER_H
#define CFORKSERVER_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

// MARK: - Forwards (CShim/forwards.c)

/// The calling thread's errno (a macro over __errno_location(), which does not import). It
/// reads errno, nothing more: the caller must call it right after the failed call, before
/// anything else that may set errno (Syscall.valueOrErrno does).
int CForkServer_errno(void);

/// accept4(2), which glibc declares only under _GNU_SOURCE and so does not import into Swift.
int CForkServer_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// pipe2(2), which glibc declares only under _GNU_SOURCE.
int CForkServer_pipe2(int fds[2], int flags);

/// F_SETPIPE_SZ (fcntl(2): the capacity of a pipe), which glibc defines only under _GNU_SOURCE.
#define CFORKSERVER_F_SETPIPE_SZ 1031

// MARK: - Niceness (CShim/limits.c)

/// The calling thread's niceness (getpriority(2)) in `*niceness`; returns 0, or -1 with errno
/// set. Unlike getpriority(2), whose -1 is also a niceness, the result says which it is.
int CForkServer_niceness(int *niceness);

/// Adds `increment` to the calling thread's niceness, as nice(2) does, the result clamped to
/// -20..19 by setpriority(2); returns 0, or -1 with errno set (EACCES to lower it without
/// CAP_SYS_NICE or an RLIMIT_NICE that allows it). Unlike nice(2), whose -1 is also a niceness,
/// the result says which it is. Async-signal-safe: a spawned child calls it (CForkServer_exec).
int CForkServer_nice(int increment);

// MARK: - Listener (CShim/listener.c)

/// Makes the listening TCP socket `fd` drop every segment that starts a handshake (a SYN
/// without ACK, by a socket filter: SO_ATTACH_FILTER), so that no connection joins its queue
/// but those whose handshake was under way. For the drain of a listener no other process keeps:
/// the filter stays with the socket. Returns 0, or -1 with errno set.
int CForkServer_listener_drop_new_handshakes(int fd);

// MARK: - Log (CShim/log.c)

/// Makes the log's writes never block, once in the server: standard error opened again through
/// /proc (a description of the server's own, O_NONBLOCK and close-on-exec) when it is a pipe,
/// FIFO or terminal, or written with MSG_DONTWAIT when it is a socket. Standard error itself is
/// left as it is, for the programs the server runs. Returns 0, or -1 with errno set when the log
/// stays blocking (no /proc, no descriptor left).
int CForkServer_log_open(void);

/// Writes one line of the log (shorter than PIPE_BUF), whole or not at all; false, and the line
/// counted as dropped, when it could not be written at once.
bool CForkServer_log_write(const void *bytes, size_t length);

/// The lines dropped and not yet reported, in this process (and a spawned child's, which shares it).
unsigned long CForkServer_log_dropped(void);

/// Takes `count` reported lines off the dropped count.
void CForkServer_log_forget_dropped(unsigned long count);

// MARK: - Signals (CShim/signals.c; the waits, CShim/signal-wait.c)

/// Installs the signal dispositions of a forking server, once per process:
/// SIGCHLD is caught (SA_NOCLDSTOP) by a handler that counts it (the loop reaps: see Reaping);
/// SIGTERM and SIGINT, SIGHUP, and SIGQUIT are caught by handlers that count the requests
/// in the server and act as a served child's dispositions in any other process (a child keeps
/// them); every handler counts a wakeup (`CForkServer_signals_wakeups`) and runs on a signal
/// stack of its own (sigaltstack(2)) unless the process has one; SIGPIPE is ignored. SIGCHLD,
/// SIGTERM, SIGINT, SIGHUP and SIGQUIT are then blocked (sigprocmask(2)) in the calling thread
/// but in the waits below, which unblock them as they wait: in the server a handler runs only
/// there. The signals the process inherited ignored are noted for `CForkServer_exec`.
/// Returns 0, or -1 with errno set.
int CForkServer_signals_install(void);

/// Restores the default action of `signo` and unblocks it; returns 0, or -1 with errno set.
int CForkServer_signal_restore_default(int signo);

/// Ignores `signo` (SIG_IGN does not import into Swift); returns 0, or -1 with errno set.
int CForkServer_signal_ignore(int signo);

/// prctl(PR_SET_PDEATHSIG, signo) (variadic, so not imported): `signo` arrives when the parent ends.
int CForkServer_set_parent_death_signal(int signo);

/// How many signals the handlers have recorded since `CForkServer_signals_install`. A wait given
/// this count as `seen` returns EINTR at once if another was recorded since; read it before
/// looking at what the handlers record. A signal that comes after it, before or during the wait,
/// ends the wait too: blocked until then, it is delivered in the wait. This and the waits below,
/// like the counts, are for a process that has installed the handlers.
unsigned CForkServer_signals_wakeups(void);

/// accept4(2) with SOCK_CLOEXEC once ppoll(2), with the caught signals unblocked, finds a client
/// queued on `fd`, unless a signal was recorded since `seen`: returns the new descriptor, or -1
/// with errno set, EINTR when a signal came first or while it waited. The accept4(2) does not
/// wait if no other process accepts on `fd`; on a blocking socket shared with one that does, it
/// waits for the next client, with the signals blocked, if that process took this one first.
int CForkServer_signals_accept(int fd, struct sockaddr *address, socklen_t *length, unsigned seen);

/// poll(2) as ppoll(2) with the caught signals unblocked (a negative timeout waits for ever),
/// unless a signal was recorded since `seen`: returns what poll returns, or -1 with errno set,
/// EINTR when a signal came first or while it waited.
int CForkServer_signals_poll(struct pollfd *fds, nfds_t count, int timeout_milliseconds, unsigned seen);

/// How many SIGTERM/SIGINT signals have arrived since `CForkServer_signals_install`.
int CForkServer_signals_shutdown_count(void);

/// The last shutdown signal received (SIGTERM or SIGINT), or 0.
int CForkServer_signals_shutdown_signal(void);

/// How many SIGHUP signals have arrived since `CForkServer_signals_install`.
int CForkServer_signals_hangup_count(void);

/// How many SIGQUIT signals have arrived since `CForkServer_signals_install`.
int CForkServer_signals_quit_count(void);

/// How many SIGCHLD signals have arrived since `CForkServer_signals_install`: the loop reaps when
/// it has changed (a signal may stand for several children).
unsigned CForkServer_signals_child_count(void);

// MARK: - Reaping (CShim/reaped.c)

/// A child of the calling process that has ended and waits to be reaped, left as it is
/// (waitid(2) with WNOWAIT): its pid, 0 when none has ended, -1 with errno set (ECHILD when the
/// process has no child at all). Which one, when several have, is the kernel's choice.
pid_t CForkServer_finished_child(void);

/// Reaps `pid` if it has ended (waitpid(2) with WNOHANG): true, with its wait status in `*status`;
/// false when it is still running or is not a child of the calling process.
bool CForkServer_reap(pid_t pid, int *status);

// MARK: - Fork (CShim/fork.c)

/// fork(2). In the parent, returns the child's pid, or -1 with the error in `*error`. In the child,
/// returns 0. A `server_child` (one the server forks to serve) makes one call after fork(2): it
/// keeps the server's handlers, which outside the server ignore SIGINT, leave SIGCHLD's children
/// to the child, and act as the default action of SIGTERM, SIGHUP and SIGQUIT; and it takes the
/// mask the server's waits run with (sigprocmask(2)), which unblocks them. Any other child gets
/// SIGINT and SIGCHLD at their defaults and an empty mask. SIGPIPE stays ignored in both.
pid_t CForkServer_fork(int *error, bool server_child);

// MARK: - Spawning a program (CShim/spawn.c; the child's steps, CShim/exec.c)

/// Where one of a spawned program's descriptors 0, 1 and 2 comes from: left as the caller has
/// it...
#define CFORKSERVER_SPAWN_INHERIT 0
/// ...a copy of the caller's descriptor `fd` (dup2(2))...
#define CFORKSERVER_SPAWN_DUPLICATE 1
/// ...or the file at `path`, opened with `flags` (open(2)).
#define CFORKSERVER_SPAWN_OPEN 2

typedef struct {
    int kind;
    int fd;
    const char *path;
    int flags;
} CForkServer_spawn_stream;

/// The process group a spawned program runs in: the caller's...
#define CFORKSERVER_SPAWN_SAME_GROUP 0
/// ...a new one that it leads (setpgid(2))...
#define CFORKSERVER_SPAWN_NEW_GROUP 1
/// ...or a new session, with no controlling terminal until it opens one (setsid(2)).
#define CFORKSERVER_SPAWN_NEW_SESSION 2

/// At most this many extra descriptors (`extra_fds`) in a request.
#define CFORKSERVER_SPAWN_MAX_EXTRA 8

/// In a request's log lines, the byte that stands for the pid of the process that writes them.
#define CFORKSERVER_SPAWN_PID_MARK 1

/// A resource limit to set in a spawned program's process: which (RLIMIT_AS, RLIMIT_NOFILE, ...)
/// and its value, soft and hard alike (RLIM_INFINITY for none).
typedef struct {
    int resource;
    rlim_t value;
} CForkServer_resource_limit;

/// A program to run and what its process does first, all prepared by the caller: the child
/// reads it in place and allocates nothing.
typedef struct {
    /// The program, looked for in $PATH unless it has a slash when `search_path`
    /// (execvpe(3)), else run as named (execve(2)); its argv and envp.
    const char *file;
    char *const *argv;
    char *const *envp;
    bool search_path;
    /// What descriptors 0, 1 and 2 become, in that order; every other descriptor but
    /// `extra_fds` is closed.
    CForkServer_spawn_stream streams[3];
    /// CFORKSERVER_SPAWN_SAME_GROUP, _NEW_GROUP or _NEW_SESSION.
    int grouping;
    /// Which signals go back to their default action: only those the server catches or ignores
    /// (CForkServer_signals_install, with those it inherited ignored), for a connection's program;
    /// or, when false, every signal. Every signal is unblocked either way.
    bool server_signals;
    /// Lines for descriptor 2, written before anything else the program writes, each
    /// CFORKSERVER_SPAWN_PID_MARK replaced by the process's pid; NULL for none. `log_buffer` holds
    /// `log_capacity` bytes of room for them (the lines' length and 16 bytes per mark).
    const char *log;
    size_t log_length;
    char *log_buffer;
    size_t log_capacity;
    /// 0 to run the program; else the status the process exits with instead (a denial's 100).
    int exit_status;
    /// The status a spawned process exits with when its program cannot be started.
    int failure_status;
    /// Resource limits the process sets, soft and hard alike (setrlimit(2)), so that its program
    /// cannot raise them: `limit_count` of them, NULL for none. Set last before the program
    /// runs, once descriptors 0, 1 and 2 are in place (a limit on descriptors below 3 would
    /// refuse dup2(2) onto them), so that none of the child's own steps runs under them.
    const CForkServer_resource_limit *limits;
    size_t limit_count;
    /// Added to the niceness with the limits (CForkServer_nice); 0 leaves it as the caller's.
    int nice_increment;
    /// The `cgroup.procs` files, open for writing, of the cgroups the process moves itself into
    /// first, before anything else it does (a contained connection's: its cgroup v2's, and its
    /// cgroups' in v1 hierarchies for the tree limits); -1 for none.
    int cgroup_procs[3];
    /// Whether the process becomes a child subreaper first (a contained connection's where no
    /// cgroup can be made: CForkServer_become_child_subreaper), so that what its program orphans
    /// comes back to it, and with it to the server.
    bool child_subreaper;
    /// Where the process writes its own pid, in decimal digits and a NUL, before the program
    /// runs: the value of one of `envp`'s entries, with room for 16 bytes (ucspi-unix's
    /// $UNIXLOCALPID, the program's pid, which the caller cannot know); NULL for none.
    char *pid_value;
    /// Descriptors the program gets as 3, 4, ... in this order, above the standard three (the
    /// UCSPI-TLS program's control socket and pipes): `extra_count` of them, NULL for none;
    /// every other descriptor is closed.
    const int *extra_fds;
    size_t extra_count;
} CForkServer_spawn_request;

/// The step at which a program failed to start: putting its descriptors 0, 1 and 2 in place
/// (dup2(2), open(2); tcpserver's "unable to set up descriptors")...
#define CFORKSERVER_SPAWN_DESCRIPTORS 1
/// ...or running it (execve(2), execvpe(3); tcpserver's "unable to run")...
#define CFORKSERVER_SPAWN_PROGRAM 2
/// ...or, between the two, setting its resource limits and niceness (setrlimit(2),
/// setpriority(2)).
#define CFORKSERVER_SPAWN_LIMITS 3
/// ...or, first of all, moving into its cgroups or becoming a child subreaper (a write to
/// `cgroup.procs`, prctl(2)).
#define CFORKSERVER_SPAWN_CONTAINMENT 4

/// Why a program did not start: the step (0 for none) and its errno.
typedef struct {
    int step;
    int error;
} CForkServer_spawn_failure;

/// Starts the program of `request` without copying the caller: clone(2) with CLONE_VM |
/// CLONE_VFORK, every signal blocked across it, whose child runs `CForkServer_exec` and exits
/// with `failure_status` if that returns. Returns once the child has exec'd or exited: its pid,
/// with `failure->step` 0, or with the failure that made it exit; or -1 with `*error` set when
/// no child could be made. With `reuse_stack`, the child runs on a stack the process keeps for
/// every such call: only for a caller that spawns from one thread alone (the server); without
/// it, on one mapped for this call, so that any thread may spawn at any time.
pid_t CForkServer_spawn(const CForkServer_spawn_request *request, bool reuse_stack, int *error, CForkServer_spawn_failure *failure);

/// The spawned child's steps, async-signal-safe and without allocating, for a child made by
/// fork(2) too: the group or session of `grouping` (a failure to make it is ignored: it cannot
/// happen in a new child), the log lines written, the signals of `server_signals` back to their
/// defaults, then with `exit_status` not 0 an exit with it; else the three descriptors put in
/// place, every other descriptor closed, the limits and niceness set, every signal unblocked,
/// and the program exec'd.
/// Returns only when the program cannot be started, with `*failure` filled in.
void CForkServer_exec(const CForkServer_spawn_request *request, CForkServer_spawn_failure *failure);

// MARK: - Containment (CShim/contain.c)

/// prctl(PR_SET_CHILD_SUBREAPER, 1) (variadic, so not imported): the orphans among this
/// process's descendants become its children, not init's. Kept across execve(2), not given to
/// children. 0, or -1 with errno set.
int CForkServer_become_child_subreaper(void);

/// prctl(PR_SET_DUMPABLE, 0): no core dump of this process, and no ptrace(2) or /proc/PID/mem
/// of it by a process of the same user without CAP_SYS_PTRACE (a TLS server's key and ticket
/// keys). Given to children that fork(2) makes; execve(2) sets it again from the new program.
/// 0, or -1 with errno set.
int CForkServer_make_undumpable(void);

// MARK: - Wait status (CShim/status.c: the <sys/wait.h> macros, which do not import into Swift)

int CForkServer_wifexited(int status);
int CForkServer_wexitstatus(int status);
int CForkServer_wifsignaled(int status);
int CForkServer_wtermsig(int status);

#endif
