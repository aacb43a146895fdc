// A listener that completes no new handshake, for the drain.
//
// Closing a listening socket resets every connection in its queue, and the kernel goes on
// completing handshakes until the close: a drain that serves the queue, then closes, always has
// a moment in which a client completes its handshake and is reset, although to it (and to a load
// balancer in front) it was connected. Dropping every new SYN first ends that moment: the
// handshakes already under way complete and are served, a new client's SYN goes unanswered and
// is sent again a second later, to find the socket closed (refused), which a load balancer
// retries on another server.
#include "CForkServer.h"

#include <linux/filter.h>
#include <netinet/tcp.h>

int CForkServer_listener_drop_new_handshakes(int fd) {
    // A socket filter on a TCP socket sees each segment from its TCP header on: byte 13 holds
    // the flags. A SYN without ACK starts a handshake: dropped. Everything else (the ACK that
    // completes a handshake under way, data) is kept whole.
    static struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, TH_SYN | TH_ACK),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TH_SYN, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFF),
    };
    struct sock_fprog program = {.len = sizeof code / sizeof code[0], .filter = code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}
