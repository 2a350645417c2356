/* sha256.h — SHA-256 (FIPS 180-4), for checking the bundled default model's file
 * (15.7 MB, before every load that uses it): portable C, or x86's SHA extensions
 * (SHA-NI: AMD Zen, Intel Ice Lake and later) where the CPU has them. */
#ifndef MS_SHA256_H
#define MS_SHA256_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

typedef struct {
    uint32_t h[8];
    uint64_t bytes;       /* message length so far */
    unsigned char buf[64];
    size_t nbuf;
    int shani;            /* blocks through the CPU's SHA instructions (set by init where it has them;
                             clearing it runs the portable code, same digest) */
} ms_sha256;

void ms_sha256_init(ms_sha256 *s);
void ms_sha256_update(ms_sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest. */
void ms_sha256_final(ms_sha256 *s, unsigned char out[32]);
/* The digest of a whole file as 64 lowercase hex digits + NUL; the error names the file. */
medsam_status ms_sha256_file(const char *path, char hex[65], medsam_error *err);

#endif
