// A process's niceness, for the limits a connection's process takes before it serves: nice(2)
// without its ambiguity (a niceness of -1 is also its failure), for the spawned child's steps
// (exec.c) and the server's own calls alike.
#include "CForkServer.h"

int CForkServer_niceness(int *niceness) {
    // getpriority(2) returns -1 both for a niceness of -1 and for a failure: only errno tells.
    errno = 0;
    int value = getpriority(PRIO_PROCESS, 0);
    if (value == -1 && errno != 0) {
        return -1;
    }
    *niceness = value;
    return 0;
}

int CForkServer_nice(int increment) {
    int current;
    if (CForkServer_niceness(&current) == -1) {
        return -1;
    }
    // No niceness is further than 39 from another (-20 to 19): a larger increment means the
    // same, and cut here it cannot overflow the sum. setpriority(2) clamps the sum to the range.
    if (increment > 39) {
        increment = 39;
    } else if (increment < -39) {
        increment = -39;
    }
    return setpriority(PRIO_PROCESS, 0, current + increment);
}
