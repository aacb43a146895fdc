// The request CForkServer_wait_call reads, laid out for the assembly of each architecture
// (signal-wait-x86_64.S, signal-wait-aarch64.S): the offsets are defined once here, and
// signal-wait.c checks them against the C struct.
#ifndef CFORKSERVER_SIGNAL_WAIT_H
#define CFORKSERVER_SIGNAL_WAIT_H

// struct wait_call: the count the handlers increment, the count the caller saw, the system
// call's number and its six arguments.
#define WAIT_CALL_WAKEUPS 0
#define WAIT_CALL_SEEN 8
#define WAIT_CALL_NUMBER 16
#define WAIT_CALL_ARGUMENTS 24
// The signal state's `waiting`, from its `wakeups`, to which the request points.
#define WAIT_CALL_WAITING_FROM_WAKEUPS 4
// What a cancelled call returns: -EINTR.
#define WAIT_CALL_CANCELLED (-4)

#ifndef __ASSEMBLER__
struct wait_call {
    volatile unsigned *wakeups;
    unsigned seen;
    long number;
    long arguments[6];
};

// Makes the system call `number` with `arguments`, unless `*wakeups` is no longer `seen`; returns
// the kernel's result: a value, or -errno, -EINTR when it was cancelled.
long CForkServer_wait_call(const struct wait_call *call);
// Where the program counter is before the call has returned: from `begin` to `end`.
extern const char CForkServer_wait_call_begin[];
extern const char CForkServer_wait_call_end[];
extern const char CForkServer_wait_call_cancelled[];
// The function's last byte and one.
extern const char CForkServer_wait_call_done[];
#endif

#endif
