/* zoom.h — box zoom: a box that is small in its image is segmented on a square crop
 * around it, so that the model sees a small object at a usable size.
 *
 * This is not part of MedSAM's, SAM's or LiteMedSAM's official pipelines (they always
 * encode the whole image); it is off for them unless asked for (`--box-zoom K`). The
 * bundled default model was fine-tuned with it and asks for it in its file's metadata
 * (`medsam.box_zoom`), because its 256x256 input leaves a 10-pixel lesion of a 512x512
 * image about 5 pixels wide. The trainer (`medsam train --box-zoom K`) cuts its samples
 * with the same window, so training and inference see the same views.
 *
 * The window for box (x0, y0, x1, y1) in a W x H image and factor K:
 *   side = max(K * max(x1 - x0, y1 - y0), MS_BOX_ZOOM_MIN_SIDE), rounded up;
 *   side >= min(W, H): no zoom (the whole image);
 *   else the side x side square centred on the box's centre, moved inside the image.
 * The box is then given in the window's pixels, the window goes through the model's
 * pipeline as an image of its own, and its mask is pasted back (zero elsewhere). */
#ifndef MS_PIPELINE_ZOOM_H
#define MS_PIPELINE_ZOOM_H

#define MS_BOX_ZOOM_METADATA "medsam.box_zoom" /* safetensors metadata key: the factor a model file asks for */
#define MS_BOX_ZOOM_MIN_SIDE 32 /* pixels: the smallest window (an 8x upscale into 256) */

typedef struct {
    int x0, y0; /* top-left pixel in the image */
    int w, h;   /* size (equal: a square) */
} ms_zoom_window;

/* Returns 1 and fills *win when the box zooms, 0 (*win = the whole image) when not
 * (factor <= 0, or the window would not be smaller than the image). */
int ms_box_zoom_window(const float box[4], int W, int H, double factor, ms_zoom_window *win);

/* The window's pixels (win->h, win->w, channels) of an image (H, W, channels), bytes_per_sample each. */
void ms_zoom_crop(const void *image, int W, int channels, int bytes_per_sample, const ms_zoom_window *win, void *out);

#endif
