/* segment.c — the smallest program on the installed libmedsam: one image, one box,
 * the mask's labelled pixel count on stdout (and the mask as raw bytes in OUT).
 *   cc segment.c $(pkg-config --cflags --libs medsam) -o segment
 *   ./segment MODEL.pth IMAGE x0 y0 x1 y1 OUT.raw */
#include <medsam.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 8) return fprintf(stderr, "usage: %s MODEL IMAGE x0 y0 x1 y1 OUT.raw\n", argv[0]), 2;
    medsam_error err = {0};
    medsam_model *model = NULL;
    medsam_embedding *emb = NULL;
    float *input = NULL;
    uint8_t *mask = NULL;
    int W, H, rc = 1;
    medsam_box box = {strtof(argv[3], NULL), strtof(argv[4], NULL), strtof(argv[5], NULL), strtof(argv[6], NULL)};
    medsam_model_info info;
    if (medsam_model_load(argv[1], &model, &err)) goto out;
    medsam_model_get_info(model, &info);
    if (medsam_prepare_input(argv[2], info.img_size, 2, &input, &W, &H, &err)) goto out;
    if (medsam_encode(model, input, 2, &emb, &err)) goto out;
    if (!(mask = malloc((size_t)W * H))) goto out;
    if (medsam_decode_boxes(model, emb, W, H, &box, 1, 2, NULL, NULL, mask, &err)) goto out;
    long n = 0;
    for (long i = 0; i < (long)W * H; i++) n += mask[i] != 0;
    FILE *f = fopen(argv[7], "wb");
    rc = !f || fwrite(mask, 1, (size_t)W * H, f) != (size_t)W * H;
    if (f) fclose(f);
    printf("libmedsam %s: %dx%d image, %ld pixels in the mask\n", medsam_version(), W, H, n);
out:
    if (rc && err.message[0]) fprintf(stderr, "segment: %s\n", err.message);
    medsam_free(input), free(mask), medsam_embedding_free(emb), medsam_model_free(model);
    return rc;
}
