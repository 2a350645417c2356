/* proc_time.c — wall time and peak RSS of a whole process, for `make bench`'s
 * LiteMedSAM part (bench/lite.sh): runs COMMAND reps times (stdout to
 * /dev/null, stderr passed on), and prints one line
 *
 *     KEY wall_median_s wall_min_s peak_rss_mb [rest_median_s]
 *
 * rest_median_s appears when every run's stderr has a line "encoder: X s" (medsam -v):
 * the median of wall - X, the process without its own encoder. Taken from the same
 * process, it does not depend on the host being as fast as when the encoder alone
 * was timed (on a shared VM that drifts by 10-20 % within minutes).
 *
 * RSS is ru_maxrss from wait4. This program is small (about 1 MB), which matters:
 * Linux carries the parent's RSS high-water mark into the child's ru_maxrss at
 * exec, so a command started from a large process would report at least its size.
 *
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE bench/proc_time.c -o build/bench/proc_time
 *   build/bench/proc_time KEY REPS COMMAND [ARGS...]
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "bench_util.h"

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: proc_time KEY REPS COMMAND [ARGS...]\n");
        return 2;
    }
    const int reps = atoi(argv[2]);
    if (reps < 1 || reps > BENCH_MEDIAN_MAX) {
        fprintf(stderr, "proc_time: REPS must be 1..%d\n", BENCH_MEDIAN_MAX);
        return 2;
    }
    double wall[BENCH_MEDIAN_MAX], rest[BENCH_MEDIAN_MAX], rss = 0, best = 1e30;
    int with_rest = 1;
    char errpath[] = "/tmp/proc_time_XXXXXX";
    const int errfd = mkstemp(errpath);
    if (errfd < 0) {
        fprintf(stderr, "proc_time: cannot create a temporary file: %s\n", strerror(errno));
        return 1;
    }
    close(errfd);
    for (int r = 0; r < reps; r++) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_TRUNC, 0);
        pid_t pid;
        const double t0 = bench_now();
        const int rc = posix_spawnp(&pid, argv[3], &fa, NULL, argv + 3, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            fprintf(stderr, "proc_time: cannot run %s: %s\n", argv[3], strerror(rc));
            unlink(errpath);
            return 1;
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "proc_time: %s failed\n", argv[3]);
            unlink(errpath);
            return 1;
        }
        wall[r] = bench_now() - t0;
        if (wall[r] < best) best = wall[r];
        double enc = -1;  // the child's stderr: passed on, and its "encoder: X s" line read
        FILE *ef = fopen(errpath, "r");
        char line[512];
        while (ef && fgets(line, sizeof line, ef)) {
            fputs(line, stderr);
            if (!strncmp(line, "encoder: ", 9)) enc = atof(line + 9);
        }
        if (ef) fclose(ef);
        if (enc >= 0) rest[r] = wall[r] - enc;
        else with_rest = 0;
        if (ru.ru_maxrss / 1024.0 > rss) rss = ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
    }
    unlink(errpath);
    if (with_rest)
        printf("%s %.4f %.4f %.1f %.4f\n", argv[1], bench_median(wall, reps), best, rss, bench_median(rest, reps));
    else
        printf("%s %.4f %.4f %.1f\n", argv[1], bench_median(wall, reps), best, rss);
    return 0;
}
