/* mhd.h — libmicrohttpd's functions, loaded with dlopen when a server starts rather than linked
 * into the command: only `medsam serve` uses them, and loading the library (with GnuTLS and the
 * eight libraries behind it) cost every other medsam command ~2.7 ms of start-up. The types and
 * constants still come from <microhttpd.h> (libmicrohttpd-dev); each pointer has the type of the
 * function it stands for. */
#ifndef MS_SERVE_MHD_H
#define MS_SERVE_MHD_H
#include <microhttpd.h>

#include "medsam.h"

#define MS_MHD_SONAME "libmicrohttpd.so.12" /* Debian: libmicrohttpd12 */

typedef struct {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
} ms_mhd;

/* The functions of MS_MHD_SONAME, loaded by the first call (thread-safe; the table does not change
 * after); NULL, with a one-line message naming the library, when it or a function is missing. */
const ms_mhd *ms_mhd_load(medsam_error *err);

/* The same from a given library file or soname, into *out (tests: a missing library). */
medsam_status ms_mhd_load_from(const char *soname, ms_mhd *out, medsam_error *err);

#endif
