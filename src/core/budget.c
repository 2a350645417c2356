/* budget.c — memory budget: defaults, parsing, the readers' check (see budget.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/budget.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

#define MS_BUDGET_FLOOR ((uint64_t)256 << 20) /* the default never goes below 256 MiB */

void ms_budget_format(char *buf, int len, uint64_t bytes) {
    const double k = 1024.0;
    if (bytes >= ((uint64_t)1 << 30)) snprintf(buf, (size_t)len, "%.2f GiB", (double)bytes / (k * k * k));
    else if (bytes >= ((uint64_t)1 << 20)) snprintf(buf, (size_t)len, "%.1f MiB", (double)bytes / (k * k));
    else if (bytes >= 1024) snprintf(buf, (size_t)len, "%.1f KiB", (double)bytes / k);
    else snprintf(buf, (size_t)len, "%llu bytes", (unsigned long long)bytes);
}

medsam_status ms_budget_check(uint64_t max_bytes, uint64_t bytes, const char *what, medsam_error *err) {
    if (!max_bytes || bytes <= max_bytes) return MEDSAM_OK;
    char a[32], b[32];
    ms_budget_format(a, sizeof a, bytes);
    ms_budget_format(b, sizeof b, max_bytes);
    return ms_error(err, MEDSAM_ERR_NOMEM, "%s: decoded size %s (%llu bytes) is over the memory budget of %s (--max-memory)",
                    what, a, (unsigned long long)bytes, b);
}

/* MemAvailable from /proc/meminfo in bytes, 0 when unknown. */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

// The default: half of MemAvailable (half of physical memory where /proc/meminfo is missing),
// at least 256 MiB. Read when asked, never cached.
long long medsam_memory_default(void) {
    uint64_t avail = mem_available();
    if (!avail) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0) avail = (uint64_t)pages * (uint64_t)psz;
    }
    uint64_t d = avail / 2;
    if (d < MS_BUDGET_FLOOR) d = MS_BUDGET_FLOOR;
    if (d > (uint64_t)INT64_MAX) d = (uint64_t)INT64_MAX;
    return (long long)d;
}

uint64_t ms_budget_resolve(const medsam_budget *b) {
    if (b && b->max_bytes > 0) return (uint64_t)b->max_bytes;
    return (uint64_t)medsam_memory_default();
}

medsam_status medsam_memory_parse(const char *spec, long long *bytes, medsam_error *err) {
    if (!spec || !*spec) return ms_error(err, MEDSAM_ERR_ARG, "--max-memory: empty size (e.g. 8G, 512M)");
    errno = 0;
    char *end = NULL;
    double v = strtod(spec, &end);
    if (end == spec || errno || !(v > 0)) return ms_error(err, MEDSAM_ERR_ARG, "--max-memory '%s': not a size > 0 (e.g. 8G, 512M)", spec);
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: return ms_error(err, MEDSAM_ERR_ARG, "--max-memory '%s': unknown unit (K, M, G or T)", spec);
    }
    if (mul > 1 && (*end == 'i' || *end == 'I')) end++;
    if (mul > 1 && (*end == 'b' || *end == 'B')) end++;
    if (*end) return ms_error(err, MEDSAM_ERR_ARG, "--max-memory '%s': trailing characters (e.g. 8G, 512M)", spec);
    double b = v * mul;
    if (b < 1 || b > 9.0e18) return ms_error(err, MEDSAM_ERR_ARG, "--max-memory '%s': out of range", spec);
    *bytes = (long long)b;
    return MEDSAM_OK;
}
