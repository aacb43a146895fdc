// The <sys/wait.h> macros, which do not import into Swift, as functions.
#include "CForkServer.h"

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
