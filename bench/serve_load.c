/* serve_load.c — load test of `medsam serve`: N clients (threads, one
 * keep-alive connection each) send the same box request on an image whose
 * embedding is cached, for S seconds; every answer must be 200 with exactly
 * the expected PNG. Reports requests, errors, p50 / p99 / max latency and the
 * server's RSS (VmRSS, VmHWM from /proc). A minimal HTTP/1.1 client: the
 * server side is libmicrohttpd; this only has to read its answers.
 *
 * usage: serve_load PORT IMAGE_ID BOX_JSON EXPECTED.png CLIENTS SECONDS SERVER_PID */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

typedef struct {
    int port;
    const char *request;
    size_t request_len;
    const unsigned char *expected;
    size_t expected_len;
    double deadline;
    double *lat;   /* latencies (ms) */
    long n, cap, errors;
} client;

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Reads one response; 0 when it is 200 with the expected body. */
static int read_response(int fd, const client *c, char *buf, size_t cap) {
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == cap) return -1;
        ssize_t r = read(fd, buf + have, cap - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have < cap ? have : cap - 1] = 0;
        end = memmem(buf, have, "\r\n\r\n", 4);
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > end) return -1;
    size_t len = strtoul(cl + 17, NULL, 10), head = (size_t)(end + 4 - buf);
    if (head + len > cap) return -1;
    while (have < head + len) {
        ssize_t r = read(fd, buf + have, cap - have);
        if (r <= 0) return -1;
        have += (size_t)r;
    }
    if (have != head + len) return -1; /* one request in flight: nothing may follow */
    return status == 200 && len == c->expected_len && !memcmp(buf + head, c->expected, len) ? 0 : 1;
}

static void *run(void *arg) {
    client *c = arg;
    size_t cap = c->expected_len + 65536;
    char *buf = malloc(cap);
    int fd = connect_to(c->port);
    while (buf && bench_now() < c->deadline) {
        if (fd < 0 && (fd = connect_to(c->port)) < 0) {
            c->errors++;
            usleep(10000);
            continue;
        }
        double t0 = bench_now();
        int rc = write(fd, c->request, c->request_len) == (ssize_t)c->request_len ? read_response(fd, c, buf, cap) : -1;
        double ms = (bench_now() - t0) * 1e3;
        if (rc) {
            c->errors++;
            close(fd);
            fd = -1;
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 4096;
            c->lat = realloc(c->lat, (size_t)c->cap * sizeof *c->lat);
        }
        c->lat[c->n++] = ms;
    }
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

static void rss(int pid, long *now_kb, long *peak_kb) {
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", pid);
    FILE *f = fopen(p, "r");
    *now_kb = *peak_kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) *now_kb = atol(line + 6);
        if (!strncmp(line, "VmHWM:", 6)) *peak_kb = atol(line + 6);
    }
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: serve_load PORT IMAGE_ID BOX_JSON EXPECTED.png CLIENTS SECONDS SERVER_PID\n");
        return 2;
    }
    int port = atoi(argv[1]), nc = atoi(argv[5]), pid = atoi(argv[7]);
    double secs = atof(argv[6]);
    FILE *f = fopen(argv[4], "rb");
    static unsigned char expected[1 << 22];
    size_t elen = f ? fread(expected, 1, sizeof expected, f) : 0;
    if (f) fclose(f);
    if (!elen || nc < 1 || nc > 1024) return fprintf(stderr, "serve_load: bad arguments\n"), 2;
    char req[2048];
    int rl = snprintf(req, sizeof req,
                      "POST /api/images/%s/segment HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      argv[2], port, strlen(argv[3]), argv[3]);
    long rss0, hwm0;
    rss(pid, &rss0, &hwm0);
    client *cs = calloc((size_t)nc, sizeof *cs);
    pthread_t *th = calloc((size_t)nc, sizeof *th);
    double deadline = bench_now() + secs;
    for (int i = 0; i < nc; i++) {
        cs[i] = (client){port, req, (size_t)rl, expected, elen, deadline, NULL, 0, 0, 0};
        pthread_create(&th[i], NULL, run, &cs[i]);
    }
    long total = 0, errors = 0;
    for (int i = 0; i < nc; i++) pthread_join(th[i], NULL), total += cs[i].n, errors += cs[i].errors;
    double *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    long k = 0;
    for (int i = 0; i < nc; i++) memcpy(all + k, cs[i].lat, (size_t)cs[i].n * sizeof *all), k += cs[i].n, free(cs[i].lat);
    qsort(all, (size_t)total, sizeof *all, bench_cmp);
    long rss1, hwm1;
    rss(pid, &rss1, &hwm1);
    if (total)
        printf("serve load: %d clients, %.0f s: %ld answers (%.1f/s), %ld wrong or failed; latency p50 %.1f ms, "
               "p99 %.1f ms, max %.1f ms; server RSS %ld MB before, %ld MB after, peak %ld MB\n",
               nc, secs, total, total / secs, errors, all[total / 2], all[(long)(total * 0.99)], all[total - 1],
               rss0 >> 10, rss1 >> 10, hwm1 >> 10);
    else
        printf("serve load: no answer (%ld errors)\n", errors);
    free(all);
    free(cs);
    free(th);
    return errors || !total;
}
