/* cmd_init.c — `medsam init`: write a random-initialised checkpoint. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model/init.h"

static void init_usage(void) {
    puts("usage: medsam init [--arch vit_b|vit_l|vit_h|tiny|small] [--seed S] -o FILE.pth\n"
         "\n"
         "Writes a checkpoint of the official SAM/MedSAM format (same tensor names,\n"
         "shapes and order as torch.save(sam.state_dict())) holding PyTorch's default\n"
         "random initialisation, as the official modules produce it after\n"
         "torch.manual_seed(S) (bit for bit with torch 1.13 on AVX2 CPUs).\n"
         "For tests and benchmarks: it segments nothing useful.\n"
         "\n"
         "  --arch NAME   vit_b (default), vit_l, vit_h, tiny (the test config) or small (the\n"
         "                default model's: 256 px, patch 8, embed 256, depth 8, decoder 128)\n"
         "  --seed S      non-negative integer (default 0; the low 32 bits are used, as torch does)\n"
         "  -o FILE       output .pth (written atomically)");
}

static int parse_seed(const char *s, unsigned long long *out) {
    char *end;
    if (!*s || *s == '-' || *s == '+') return 0;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return !*end && errno == 0;
}

int cmd_init(int argc, char **argv) {
    const char *arch = "vit_b", *output = NULL;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            init_usage();
            return 0;
        }
        int is_arch = !strcmp(a, "--arch"), is_seed = !strcmp(a, "--seed");
        int is_out = !strcmp(a, "-o") || !strcmp(a, "--output");
        if (!is_arch && !is_seed && !is_out) {
            fprintf(stderr, "medsam: unknown option '%s' (see -h)\n", a);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "medsam: option '%s' needs a value\n", a);
            return 2;
        }
        i++;
        if (is_arch) arch = val;
        else if (is_out) output = val;
        else if (!parse_seed(val, &seed)) {
            fprintf(stderr, "medsam: --seed wants a non-negative integer, got '%s'\n", val);
            return 2;
        }
    }
    if (!output) {
        fprintf(stderr, "medsam: missing -o FILE.pth (see -h)\n");
        return 2;
    }
    medsam_error err;
    ms_config cfg;
    if (ms_config_preset(arch, &cfg, &err)) return cli_fail(&err);
    ms_param_table table;
    if (ms_param_table_build(&cfg, &table) != 0) return cli_failf("out of memory");
    const int count = table.count;
    const size_t total = table.total;
    ms_param_table_free(&table);
    if (ms_init_save(arch, seed, output, &err)) return cli_fail(&err);
    printf("%s: %s, seed %llu, %d tensors, %zu parameters\n", output, arch, seed, count, total);
    return 0;
}
