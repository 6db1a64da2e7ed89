/* The program the rules benchmark launches (bench/rules.py): the ground truth of placement.
 *
 * probe EXPECTED LIFETIME_MS SPAWN_NS: from its start until LIFETIME_MS have passed,
 * polls /proc/self/cgroup (every 0.1 ms at first, backing off to 5 ms) for a line ending in EXPECTED. Writes one line
 * to fd 3 when done: "Y <ns from SPAWN_NS to first seen placed>" or "N", then exits.
 * SPAWN_NS is CLOCK_MONOTONIC taken by the spawner just before posix_spawn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int placed(const char *expected) {
    char buf[8192];
    int fd = open("/proc/self/cgroup", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    size_t len = strlen(expected);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        size_t l = strlen(line);
        if (l >= len && strcmp(line + l - len, expected) == 0 && line[l - len - 1] == ':') return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    const char *expected = argv[1];
    long long lifetime = atoll(argv[2]) * 1000000LL, spawned = atoll(argv[3]);
    long long start = now_ns(), seen = -1, gap = 100000;
    for (;;) {
        if (placed(expected)) { seen = now_ns(); break; }
        if (now_ns() - start >= lifetime) break;
        /* Back off from 0.1 ms to 5 ms: hundreds of probes polling fast would load the CPUs
         * and slow whichever daemon places them late, which would make it later still. */
        struct timespec pause = {0, gap};
        nanosleep(&pause, NULL);
        if (gap < 5000000) gap *= 2;
    }
    if (seen >= 0) {
        long long left = lifetime - (now_ns() - start);  /* live out the lifetime: a long-lived process */
        if (left > 0) { struct timespec rest = {left / 1000000000LL, left % 1000000000LL}; nanosleep(&rest, NULL); }
    }
    char out[64];
    int n = seen >= 0 ? snprintf(out, sizeof out, "Y %lld\n", seen - spawned) : snprintf(out, sizeof out, "N\n");
    if (write(3, out, n) != n) return 1;
    return 0;
}
