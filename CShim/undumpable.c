// Keeping a server's secrets out of its user's reach: no core dump, no ptrace(2).
#include "CForkServer.h"

#include <sys/prctl.h>

int CForkServer_make_undumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
}
