// CForkServer_wait_call for x86_64: see signal-wait.c. The request in rdi, kept in rbx (the
// system call keeps rbx); the call's number in rax, its arguments in rdi, rsi, rdx, r10, r8, r9.
// Every label is global for the handlers in signal-wait.c, and hidden from other modules.
#if defined(__x86_64__) && !defined(CFORKSERVER_TEXTBOOK_WAIT)
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
    .type CForkServer_wait_call, @function
CForkServer_wait_call:
    .cfi_startproc
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq %rdi, %rbx
CForkServer_wait_call_begin:
    // waiting = 1, then the check: from here to the call, a handler cancels it.
    movq WAIT_CALL_WAKEUPS(%rbx), %rax
    movl $1, WAIT_CALL_WAITING_FROM_WAKEUPS(%rax)
    movl (%rax), %eax
    cmpl WAIT_CALL_SEEN(%rbx), %eax
    jne CForkServer_wait_call_cancelled
    movq WAIT_CALL_NUMBER(%rbx), %rax
    movq WAIT_CALL_ARGUMENTS(%rbx), %rdi
    movq WAIT_CALL_ARGUMENTS+8(%rbx), %rsi
    movq WAIT_CALL_ARGUMENTS+16(%rbx), %rdx
    movq WAIT_CALL_ARGUMENTS+24(%rbx), %r10
    movq WAIT_CALL_ARGUMENTS+32(%rbx), %r8
    movq WAIT_CALL_ARGUMENTS+40(%rbx), %r9
    syscall
CForkServer_wait_call_end:
    movq WAIT_CALL_WAKEUPS(%rbx), %rcx
    movl $0, WAIT_CALL_WAITING_FROM_WAKEUPS(%rcx)
    .cfi_remember_state
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    ret
    .cfi_restore_state
CForkServer_wait_call_cancelled:
    movq WAIT_CALL_WAKEUPS(%rbx), %rcx
    movl $0, WAIT_CALL_WAITING_FROM_WAKEUPS(%rcx)
    movq $WAIT_CALL_CANCELLED, %rax
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    ret
CForkServer_wait_call_done:
    .cfi_endproc
    .size CForkServer_wait_call, .-CForkServer_wait_call

// No executable stack for the program that links this.
    .section .note.GNU-stack,"",@progbits
#endif
