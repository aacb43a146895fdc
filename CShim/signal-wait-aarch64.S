// CForkServer_wait_call for aarch64: see signal-wait.c. The request in x0, kept in x9 (the
// system call keeps every register but x0); the call's number in x8, its arguments in x0 to x5.
// Every label is global for the handlers in signal-wait.c, and hidden from other modules.
#if defined(__aarch64__) && !defined(CFORKSERVER_TEXTBOOK_WAIT)
#include "signal-wait.h"

    .text
    .p2align 4
    .globl CForkServer_wait_call
    .hidden CForkServer_wait_call
    .globl CForkServer_wait_call_begin
    .hidden CForkServer_wait_call_begin
    .globl CForkServer_wait_call_end
    .hidden CForkServer_wait_call_end
    .globl CForkServer_wait_call_cancelled
    .hidden CForkServer_wait_call_cancelled
    .globl CForkServer_wait_call_done
    .hidden CForkServer_wait_call_done
    .type CForkServer_wait_call, %function
CForkServer_wait_call:
    .cfi_startproc
    mov x9, x0
CForkServer_wait_call_begin:
    // waiting = 1, then the check: from here to the call, a handler cancels it.
    ldr x10, [x9, #WAIT_CALL_WAKEUPS]
    mov w11, #1
    str w11, [x10, #WAIT_CALL_WAITING_FROM_WAKEUPS]
    ldr w11, [x10]
    ldr w12, [x9, #WAIT_CALL_SEEN]
    cmp w11, w12
    b.ne CForkServer_wait_call_cancelled
    ldr x8, [x9, #WAIT_CALL_NUMBER]
    ldr x0, [x9, #WAIT_CALL_ARGUMENTS]
    ldr x1, [x9, #WAIT_CALL_ARGUMENTS+8]
    ldr x2, [x9, #WAIT_CALL_ARGUMENTS+16]
    ldr x3, [x9, #WAIT_CALL_ARGUMENTS+24]
    ldr x4, [x9, #WAIT_CALL_ARGUMENTS+32]
    ldr x5, [x9, #WAIT_CALL_ARGUMENTS+40]
    svc #0
CForkServer_wait_call_end:
    ldr x10, [x9, #WAIT_CALL_WAKEUPS]
    str wzr, [x10, #WAIT_CALL_WAITING_FROM_WAKEUPS]
    ret
CForkServer_wait_call_cancelled:
    ldr x10, [x9, #WAIT_CALL_WAKEUPS]
    str wzr, [x10, #WAIT_CALL_WAITING_FROM_WAKEUPS]
    mov x0, #WAIT_CALL_CANCELLED
    ret
CForkServer_wait_call_done:
    .cfi_endproc
    .size CForkServer_wait_call, .-CForkServer_wait_call

// No executable stack for the program that links this.
    .section .note.GNU-stack,"",%progbits
#endif
