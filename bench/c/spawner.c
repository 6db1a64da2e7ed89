/* The load generator of the rules benchmark (bench/rules.py), in C so that the rate is the
 * one asked for and Python's own cost stays out of the numbers.
 *
 * spawner RATE COUNT PROBE EXPECTED LIFETIME_MS: posix_spawn PROBE COUNT times, RATE per
 * second on a fixed schedule, each with its spawn time; reaps without blocking; waits
 * for all at the end. Prints the rate achieved.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: spawner RATE COUNT PROBE EXPECTED LIFETIME_MS\n"); return 2; }
    long rate = atol(argv[1]), count = atol(argv[2]);
    long long step = 1000000000LL / rate, begin = now_ns();
    char spawned[32];
    char *args[] = {argv[3], argv[4], argv[5], spawned, NULL};
    for (long i = 0; i < count; i++) {
        long long due = begin + i * step, t;
        while ((t = now_ns()) < due) {
            long long gap = due - t;
            struct timespec pause = {gap / 1000000000LL, gap % 1000000000LL};
            nanosleep(&pause, NULL);
        }
        snprintf(spawned, sizeof spawned, "%lld", now_ns());
        pid_t pid;
        int err = posix_spawn(&pid, argv[3], NULL, NULL, args, environ);
        if (err) { fprintf(stderr, "posix_spawn: %d\n", err); return 1; }
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
    }
    double took = (now_ns() - begin) / 1e9;
    while (wait(NULL) > 0 || errno == EINTR) {}
    printf("%.1f\n", count / took);
    return 0;
}
