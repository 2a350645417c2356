/* main.c — the `medsam` command: dispatches to subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const medsam_error *err) {
    fprintf(stderr, "medsam: %s\n", err->message);
    return 1;
}

int cli_failf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("medsam: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_threads(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 1 && v <= 1024) ? (int)v : 0;
}

int cli_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1024 ? (int)n : 1;
}

static void usage(FILE *fp) {
    fputs("usage: medsam <command> [options]\n"
          "\n"
          "commands:\n"
          "  info        print the architecture inferred from a checkpoint\n"
          "  embed       encode an image, write the image embedding (.npy)\n"
          "  segment     segment box prompts, write a mask PNG (and logits)\n"
          "  preprocess  write the encoder input tensor (.npy) for an image\n"
          "  eval        DSC / NSD of predicted label maps against ground truth\n"
          "  init        write a random-initialised checkpoint (tests, benchmarks)\n"
          "  train       fine-tune the image encoder and mask decoder on npy data\n"
          "  synth       write procedural training / evaluation cases with exact masks\n"
          "  convert     write a model file as safetensors (official or transformers names)\n"
          "  serve       the web page and HTTP API for interactive segmentation\n"
          "  baseline    the classical box baseline (Otsu, largest component, holes filled)\n"
          "\n"
          "Run `medsam <command> -h` for the options of a command, `medsam --version` for the version.\n",
          fp);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("medsam %s\n", medsam_version());
        return 0;
    }
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed")) return cmd_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "segment")) return cmd_segment(argc - 1, argv + 1);
    if (!strcmp(cmd, "preprocess")) return cmd_preprocess(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "init")) return cmd_init(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "synth")) return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "baseline")) return cmd_baseline(argc - 1, argv + 1);
    fprintf(stderr, "medsam: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
