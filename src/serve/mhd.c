/* mhd.c — libmicrohttpd loaded at run time (see mhd.h). */
#include "serve/mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "core/error.h"

medsam_status ms_mhd_load_from(const char *soname, ms_mhd *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);  // kept open for the life of the process
    if (!lib)
        return ms_error(err, MEDSAM_ERR_IO, "cannot load %s, which medsam serve needs (Debian: apt-get install "
                        "libmicrohttpd12): %s", soname, dlerror());
    struct {
        const char *name;
        void **slot;
    } fns[] = {
        {"MHD_start_daemon", (void **)&out->start_daemon},
        {"MHD_stop_daemon", (void **)&out->stop_daemon},
        {"MHD_get_daemon_info", (void **)&out->get_daemon_info},
        {"MHD_create_response_from_buffer", (void **)&out->create_response_from_buffer},
        {"MHD_add_response_header", (void **)&out->add_response_header},
        {"MHD_queue_response", (void **)&out->queue_response},
        {"MHD_destroy_response", (void **)&out->destroy_response},
        {"MHD_lookup_connection_value", (void **)&out->lookup_connection_value},
    };
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        void *f = dlsym(lib, fns[i].name);
        if (!f) {
            memset(out, 0, sizeof *out);
            dlclose(lib);
            return ms_error(err, MEDSAM_ERR_IO, "%s has no function %s (libmicrohttpd 0.9.x expected)", soname,
                            fns[i].name);
        }
        *fns[i].slot = f;
    }
    return MEDSAM_OK;
}

/* The one table of the process, written once under pthread_once, read-only after. */
static ms_mhd mhd_table;
static medsam_status mhd_status;
static medsam_error mhd_err;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void mhd_load_once(void) { mhd_status = ms_mhd_load_from(MS_MHD_SONAME, &mhd_table, &mhd_err); }

const ms_mhd *ms_mhd_load(medsam_error *err) {
    pthread_once(&mhd_once, mhd_load_once);
    if (!mhd_status) return &mhd_table;
    if (err) *err = mhd_err;
    return NULL;
}
