/* cmd_serve.c — `medsam serve`: the HTTP API and the web page (src/serve/). */
#define _POSIX_C_SOURCE 200809L
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve/server.h"

static void serve_help(void) {
    puts("usage: medsam serve [-m MODEL.pth] [--host 127.0.0.1] [--port 8080] [--threads N] [--cache-mb 1024]\n"
         "                    [--max-upload-mb 512] [--token T] [--max-connections 64] [--queue 8]\n"
         "                    [--pipeline medsam|sam|lite] [--box-zoom K] [--max-memory SIZE]\n"
         "                    [--max-memory-total SIZE]\n\n"
         "Serves the web page and the HTTP API (see README: \"Web page and HTTP API\"). Prints\n"
         "`medsam serve: ready at http://HOST:PORT/` on stderr when it listens; --port 0 lets the\n"
         "system choose the port. Only loopback by default; any other --host needs --token,\n"
         "which every /api call must then carry (Authorization: Bearer T, or the cookie that\n"
         "opening http://HOST:PORT/?token=T sets). --threads: encoder threads (default: all\n"
         "cores); --cache-mb bounds the embedding cache; --queue bounds the encodes and 3-D\n"
         "jobs waiting (429 beyond; 0 refuses every encode). --pipeline, --box-zoom: as for segment\n"
         "(box zoom applies to 2-D images).\n"
         "--max-memory bounds the decoded size of one upload (413 beyond; default half of the\n"
         "available memory), --max-memory-total all volumes held together (503 beyond, until\n"
         "images are deleted; default half of the memory available at start). Ctrl+C or\n"
         "SIGTERM stops it.");
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1", *token = NULL, *pipeline = NULL;
    double box_zoom = -1; /* --box-zoom; -1: the model file's record */
    long long max_memory = 0, max_memory_total = 0;
    long long port = 8080, cache_mb = 1024, upload_mb = 512, conns = 64, queue = 8;
    int threads = cli_default_threads();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_help();
            return 0;
        }
        static const char *const WITH_VALUE[] = {"-m", "--model", "--host", "--port", "-t", "--threads", "--cache-mb",
                                                 "--max-upload-mb", "--token", "--max-connections", "--queue",
                                                 "--pipeline", "--max-memory", "--max-memory-total", "--box-zoom"};
        int known = 0;
        for (size_t k = 0; k < sizeof WITH_VALUE / sizeof *WITH_VALUE; k++) known |= !strcmp(a, WITH_VALUE[k]);
        if (!known) return fprintf(stderr, "medsam: unknown option '%s' (see -h)\n", a), 2;
        if (!v) return fprintf(stderr, "medsam: option '%s' needs a value\n", a), 2;
        i++;
        int ok = 1;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--token")) token = v;
        else if (!strcmp(a, "--port")) ok = parse_ll(v, 0, 65535, &port);
        else if (!strcmp(a, "--cache-mb")) ok = parse_ll(v, 0, 1LL << 30, &cache_mb);
        else if (!strcmp(a, "--max-upload-mb")) ok = parse_ll(v, 1, 1LL << 20, &upload_mb);
        else if (!strcmp(a, "--max-connections")) ok = parse_ll(v, 1, 4096, &conns);
        else if (!strcmp(a, "--queue")) ok = parse_ll(v, 0, 4096, &queue);
        else if (!strcmp(a, "--pipeline")) {
            if (cli_pipeline_arg(v)) return 2;
            pipeline = v;
        }
        else if (!strcmp(a, "--box-zoom")) {
            if (cli_box_zoom_arg(v, &box_zoom)) return 2;
        }
        else if (!strcmp(a, "--max-memory") || !strcmp(a, "--max-memory-total")) {
            medsam_error e;
            if (medsam_memory_parse(v, !strcmp(a, "--max-memory") ? &max_memory : &max_memory_total, &e))
                return fprintf(stderr, "medsam: %s: '%s' is not a size (e.g. 8G, 512M, 300K)\n", a, v), 2;
        }
        else ok = (threads = cli_threads(v)) > 0;
        if (!ok) return fprintf(stderr, "medsam: %s: '%s' is not a valid value (see -h)\n", a, v), 2;
    }
    if (token && (strlen(token) < 8 || strlen(token) > 256 || strpbrk(token, " \t\r\n;,\"")))
        return fprintf(stderr, "medsam: --token: 8 to 256 characters, no spaces, quotes, ';' or ','\n"), 2;
    char defbuf[4096];
    if (cli_default_model(&model, defbuf, sizeof defbuf)) return 1;
#ifdef M_ARENA_MAX
    /* glibc gives each of the many connection threads its own malloc arena, and freed decode buffers
       stay in them: a few shared arenas keep the resident size near what the decode slots need */
    mallopt(M_ARENA_MAX, 4);
#endif
    medsam_error err;
    medsam_model *m;
    if (cli_load_model(model, pipeline, &m)) return 1;
    cli_set_box_zoom(m, box_zoom);
    if (medsam_model_keep_decoder_input(m, threads > 0 ? threads : cli_default_threads(), &err)) {
        medsam_model_free(m);
        return cli_fail(&err);
    }
    /* SIGINT / SIGTERM are taken by sigwait below; blocked before any thread starts so that none gets them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ms_serve_opts o = {.model = m, .host = host, .port = (int)port, .threads = threads, .cache_mb = cache_mb,
                       .max_upload_mb = upload_mb, .token = token, .max_connections = (int)conns, .queue = (int)queue,
                       .max_memory = max_memory, .max_memory_total = max_memory_total};
    ms_server *srv;
    if (ms_server_start(&o, &srv, &err)) {
        medsam_model_free(m);
        return cli_fail(&err);
    }
    fprintf(stderr, "medsam serve: ready at http://%s:%d/\n", host, ms_server_port(srv));
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "medsam serve: stopping (%s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ms_server_stop(srv);
    medsam_model_free(m);
    return 0;
}
