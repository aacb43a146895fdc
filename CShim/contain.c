// Containing a connection's processes without a cgroup: the child subreaper.
#include "CForkServer.h"

#include <sys/prctl.h>

int CForkServer_become_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}
