/* server.h — `medsam serve`: the HTTP API and the web page over libmicrohttpd
 * (one thread per connection, a connection limit, streamed uploads). */
#ifndef MS_SERVE_SERVER_H
#define MS_SERVE_SERVER_H
#include "medsam.h"

typedef struct {
    const medsam_model *model;
    const char *host;        /* IPv4 address to bind, "127.0.0.1" by default */
    int port;                /* 0: the system chooses */
    int threads;             /* encoder threads */
    long long cache_mb;      /* embedding cache bound */
    long long max_upload_mb; /* request body bound (413 beyond) */
    const char *token;       /* required when host is not loopback; NULL: none */
    int max_connections;     /* 0: 64 */
    int queue;               /* encode queue length (encodes + jobs); 0 refuses every encode */
    long long max_memory;       /* per upload: decoded-size budget (0: medsam_memory_default()) */
    long long max_memory_total; /* all held volumes (0: medsam_memory_default() at start) */
} ms_serve_opts;

typedef struct ms_server ms_server;

medsam_status ms_server_start(const ms_serve_opts *o, ms_server **out, medsam_error *err);
int ms_server_port(const ms_server *srv);
void ms_server_stop(ms_server *srv); /* closes the listener, waits for connections, removes temp files */

/* Whether an IPv4 address text is a loopback address (127.0.0.0/8) or "localhost". */
int ms_serve_is_loopback(const char *host);

/* The page's files, compiled in (build/gen/web_assets.c, made from web/ by tools/embed_assets.sh). */
typedef struct {
    const char *name, *mime;
    const unsigned char *data;
    unsigned long len;
} ms_web_asset;
extern const ms_web_asset ms_web_assets[];
extern const int ms_web_asset_count;

#endif
