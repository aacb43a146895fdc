/*
 * c-fork-probe: the raw cost of a process in C. It forks N children that _exit(0) at once,
 * waiting for each, and prints "forks_per_second R". fork-bench runs it beside fork-probe,
 * the same loop in a Swift process the size of echo-server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char *end;
    long count = argc == 2 ? strtol(argv[1], &end, 10) : 0;
    if (argc != 2 || *end != '\0' || count < 1 || count > 10000000) {
        fprintf(stderr, "usage: c-fork-probe COUNT\n");
        return 2;
    }
    struct timespec start, stop;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) {
        pid_t pid = fork();
        if (pid == -1) {
            perror("c-fork-probe: fork");
            return 1;
        }
        if (pid == 0)
            _exit(0);
        while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
            ;
    }
    clock_gettime(CLOCK_MONOTONIC, &stop);
    double seconds = (double)(stop.tv_sec - start.tv_sec) + (double)(stop.tv_nsec - start.tv_nsec) / 1e9;
    printf("forks_per_second %.1f\n", (double)count / seconds);
    return 0;
}
