/* version.c — the library's version string and the matching free() for memory
 * the library hands to its caller. */
#include <stdlib.h>

#include "medsam.h"

const char *medsam_version(void) { return MEDSAM_VERSION; }

void medsam_free(void *p) { free(p); }
