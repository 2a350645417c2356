/* test_serve_mhd.c — libmicrohttpd loaded at run time (src/serve/mhd.c): the real library gives
 * every function; a missing library or one without the functions gives one line naming it. */
#include <string.h>

#include "serve/mhd.h"
#include "test.h"

int main(void) {
    medsam_error err = {0};
    const ms_mhd *m = ms_mhd_load(&err);
    CHECK(m && m->start_daemon && m->stop_daemon && m->get_daemon_info && m->create_response_from_buffer &&
              m->add_response_header && m->queue_response && m->destroy_response && m->lookup_connection_value,
          "%s: %s", MS_MHD_SONAME, m ? "a function is missing" : err.message);
    CHECK(ms_mhd_load(&err) == m, "loaded once");

    ms_mhd t;
    medsam_status st = ms_mhd_load_from("libmicrohttpd.so.999", &t, &err);
    CHECK(st == MEDSAM_ERR_IO && strstr(err.message, "cannot load libmicrohttpd.so.999") &&
              strstr(err.message, "apt-get install libmicrohttpd12") && !strchr(err.message, '\n') && !t.start_daemon,
          "missing library: %s", err.message);
    st = ms_mhd_load_from("libz.so.1", &t, &err);
    CHECK(st == MEDSAM_ERR_IO && strstr(err.message, "libz.so.1 has no function MHD_start_daemon") && !t.start_daemon,
          "a library without the functions: %s", err.message);
    return t_summary();
}
