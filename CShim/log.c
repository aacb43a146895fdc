// The server's log: one write(2) per line on a description of its own that never blocks.
//
// The log is standard error, which the server shares with whoever started it: a pipe to a log
// reader, a terminal, a journal's socket. A reader that stops reading must not stop the server
// (nor keep it from obeying a signal: a blocking write restarts after one), so a line that cannot
// be written at once is dropped and counted, and the next line written says how many were. The
// shared description's flags are not changed: O_NONBLOCK there would reach every process holding
// it, the server's programs among them. A pipe, FIFO or terminal is opened again through /proc
// instead, which gives the server a description of its own; a socket is written with
// MSG_DONTWAIT; a regular file never waits on a reader, and is written as it is.
#define _GNU_SOURCE
#include "CForkServer.h"

#include <stdio.h>
#include <sys/stat.h>

static int log_descriptor = STDERR_FILENO;
static bool log_is_socket = false;
// Lines dropped since the last that was written. A child of CForkServer_spawn shares the
// server's memory, so the drops of the lines it writes count here too.
static unsigned long log_dropped = 0;

int CForkServer_log_open(void) {
    struct stat status;
    if (fstat(STDERR_FILENO, &status) == -1) {
        // No standard error: every write fails at once, and nothing waits.
        return 0;
    }
    if (S_ISSOCK(status.st_mode)) {
        log_is_socket = true;
        return 0;
    }
    if (!S_ISFIFO(status.st_mode) && !S_ISCHR(status.st_mode)) {
        return 0;
    }
    // Fails with ENXIO for a pipe that has no reader left: writes then fail at once with EPIPE
    // (SIGPIPE is ignored), so the shared description is as good. Without /proc, or past the
    // descriptor limit, the log stays blocking, which the caller may report.
    int reopened = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (reopened == -1) {
        return errno == ENXIO ? 0 : -1;
    }
    if (log_descriptor != STDERR_FILENO) {
        close(log_descriptor);
    }
    log_descriptor = reopened;
    return 0;
}

bool CForkServer_log_write(const void *bytes, size_t length) {
    // Lines are shorter than PIPE_BUF, so a pipe takes each whole or not at all.
    ssize_t written;
    do {
        written = log_is_socket ? send(log_descriptor, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL)
                                : write(log_descriptor, bytes, length);
    } while (written == -1 && errno == EINTR);
    if (written == (ssize_t)length) {
        return true;
    }
    log_dropped++;
    return false;
}

unsigned long CForkServer_log_dropped(void) {
    return log_dropped;
}

void CForkServer_log_forget_dropped(unsigned long count) {
    log_dropped = count < log_dropped ? log_dropped - count : 0;
}
