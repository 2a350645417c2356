/* render.c — a scene's look in each modality (see synth.h for the list). Each
 * renderer maps the tissue property (body ~0.5, objects 0.5 +- 0.35 x contrast)
 * to that modality's physics-flavoured intensities, adds its noise and
 * artefacts, and quantises to 8 bits as the modality is usually displayed. */
#include <math.h>
#include <string.h>

#include "synth/synth_internal.h"

/* out (S, S) := Gaussian white noise blurred by sigma, rescaled to unit standard deviation. */
static void correlated_noise(syn_rng *r, float *out, int S, float sigma, float *scratch) {
    const long n = (long)S * S;
    for (long i = 0; i < n; i++) out[i] = (float)syn_normal(r);
    syn_blur(out, S, S, sigma, scratch);
    double ss = 0.0;
    for (long i = 0; i < n; i++) ss += (double)out[i] * out[i];
    float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss / n)) : 1.f;
    for (long i = 0; i < n; i++) out[i] *= inv;
}

/* Scale factor from the 256-pixel design frame to this image. */
static float px(const syn_scene *sc) { return sc->S / 256.f; }

void syn_render_ct(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch) {
    const int S = sc->S;
    const long n = (long)S * S;
    float *hu = scratch, *tex = scratch + n, *noise = scratch + 2 * n, *tmp = scratch + 3 * n;
    syn_noise(r, tex, S, 8, 4);
    const float bone = (float)syn_uniform(r, 400.0, 1200.0), spread = (float)syn_uniform(r, 300.0, 600.0);
    for (long i = 0; i < n; i++)
        hu[i] = !sc->body[i] ? -1000.f : sc->dense[i] ? bone : 40.f + (sc->prop[i] - 0.5f) * spread + 25.f * tex[i];
    syn_blur(hu, S, S, 0.5f * px(sc), tmp);  // partial volume
    correlated_noise(r, noise, S, 0.8f * px(sc), tmp);
    const float sigma = (float)syn_uniform(r, 4.0, 30.0);
    float level = 40.f, width = 400.f;  // soft-tissue window most of the time
    if (syn_int(r, 0, 9) < 3) level = (float)syn_uniform(r, -40.0, 90.0), width = (float)syn_uniform(r, 150.0, 600.0);
    for (long i = 0; i < n; i++) image[i] = syn_u8((hu[i] + sigma * noise[i] - (level - width / 2)) / width * 255.f);
}

void syn_render_mr(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch) {
    const int S = sc->S;
    const long n = (long)S * S;
    float *sig = scratch, *bias = scratch + n, *tex = scratch + 2 * n, *tmp = scratch + 3 * n;
    syn_noise(r, tex, S, 8, 3);
    for (long i = 0; i < n; i++) {
        float p = sc->dense[i] ? 0.05f : sc->prop[i];  // cortical bone is dark in MR
        float s = 0.15f + 0.7f * p + 0.05f * tex[i];
        sig[i] = sc->body[i] ? (s < 0.02f ? 0.02f : s) : 0.f;
    }
    syn_blur(sig, S, S, 0.6f * px(sc), tmp);
    syn_noise(r, bias, S, 2, 2);
    const float bias_amp = (float)syn_uniform(r, 0.1, 0.45), sigma = (float)syn_uniform(r, 0.01, 0.07);
    for (long i = 0; i < n; i++) {  // bias field, then Rician noise (magnitude of a complex Gaussian)
        float s = sig[i] * expf(bias_amp * bias[i]);
        float a = s + sigma * (float)syn_normal(r), b = sigma * (float)syn_normal(r);
        sig[i] = sqrtf(a * a + b * b);
    }
    float hi = syn_quantile(sig, n, 0.995, tmp);
    if (hi <= 0.f) hi = 1.f;
    for (long i = 0; i < n; i++) image[i] = syn_u8(sig[i] / hi * 255.f);
}

void syn_render_us(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch) {
    const int S = sc->S;
    const long n = (long)S * S;
    float *refl = scratch, *re = scratch + n, *im = scratch + 2 * n, *tmp = scratch + 3 * n;
    for (long i = 0; i < n; i++) refl[i] = sc->dense[i] ? 1.0f : sc->prop[i];
    memcpy(re, refl, (size_t)n * sizeof *re);
    syn_blur(re, S, S, 1.0f * px(sc), tmp);
    for (int y = 0; y < S; y++)  // echoes: tissue level plus bright interfaces
        for (int x = 0; x < S; x++) {
            long i = (long)y * S + x;
            float gx = re[y * S + (x + 1 < S ? x + 1 : x)] - re[y * S + (x > 0 ? x - 1 : x)];
            float gy = re[(y + 1 < S ? y + 1 : y) * S + x] - re[(y > 0 ? y - 1 : y) * S + x];
            float v = 0.3f + 0.9f * (refl[i] - 0.5f) + 2.5f * sqrtf(gx * gx + gy * gy) / px(sc);
            refl[i] = sc->dense[i] ? 2.0f : v < 0.03f ? 0.03f : v;
        }
    /* speckle: the magnitude of laterally elongated complex Gaussian noise */
    for (long i = 0; i < n; i++) re[i] = (float)syn_normal(r), im[i] = (float)syn_normal(r);
    syn_blur(re, S, S, 0.9f * px(sc), tmp);
    syn_blur(im, S, S, 0.9f * px(sc), tmp);
    double mean = 0.0;
    for (long i = 0; i < n; i++) mean += re[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
    const float inv = mean > 0.0 ? (float)(n / mean) : 1.f;
    /* shadows: attenuation accumulated along rays from a probe above the image */
    const float apex_x = S * 0.5f, apex_y = -S * 0.08f, atten = (float)syn_uniform(r, 0.6, 2.0);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            long i = (long)y * S + x;
            if (!sc->body[i]) { tmp[i] = 0.f; continue; }
            float dx = x + 0.5f - apex_x, dy = y + 0.5f - apex_y, d = sqrtf(dx * dx + dy * dy);
            float ux = dx / d, uy = dy / d, hit = 0.f;
            for (float t = 0.f; t < d; t += 1.5f * px(sc)) {  // march from the probe to the pixel
                int sx = (int)(apex_x + ux * t), sy = (int)(apex_y + uy * t);
                if (sx >= 0 && sy >= 0 && sx < S && sy < S && sc->dense[(long)sy * S + sx]) hit += 1.5f;
            }
            float depth = d / S;
            tmp[i] = expf(-atten * hit / (8.f * px(sc))) * expf(-0.8f * depth) * (1.f + 0.5f * depth);
        }
    const float gain = (float)syn_uniform(r, 6.0, 20.0);
    const float top = logf(1.f + gain * 2.5f);
    for (long i = 0; i < n; i++) {
        float v = sc->body[i] ? refl[i] * re[i] * inv * tmp[i] : 0.f;
        image[i] = syn_u8(logf(1.f + gain * v) / top * 255.f);
    }
}

void syn_render_xray(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch) {
    const int S = sc->S;
    const long n = (long)S * S;
    float *dens = scratch, *tex = scratch + n, *tmp = scratch + 2 * n, *tmp2 = scratch + 3 * n;
    /* thickness of the body: a smooth dome over its mask */
    for (long i = 0; i < n; i++) dens[i] = sc->body[i] ? 1.f : 0.f;
    syn_blur(dens, S, S, 0.12f * S, tmp);
    syn_noise(r, tex, S, 6, 4);
    for (long i = 0; i < n; i++)
        dens[i] = 0.9f * dens[i] + (sc->body[i] ? 0.8f * (sc->prop[i] - 0.5f) + 0.06f * tex[i] : 0.f) +
                  (sc->dense[i] ? 1.0f : 0.f);
    syn_blur(dens, S, S, (float)syn_uniform(r, 0.5, 1.5) * px(sc), tmp);
    const float mu = (float)syn_uniform(r, 1.0, 2.5), sigma = (float)syn_uniform(r, 0.005, 0.025);
    for (long i = 0; i < n; i++) dens[i] = 1.f - expf(-mu * dens[i]) + sigma * (float)syn_normal(r);
    float lo = syn_quantile(dens, n, 0.01, tmp2), hi = syn_quantile(dens, n, 0.995, tmp2);
    if (hi <= lo) hi = lo + 1.f;
    const int invert = syn_int(r, 0, 9) < 3;
    for (long i = 0; i < n; i++) {
        float v = (dens[i] - lo) / (hi - lo) * 255.f;
        image[i] = syn_u8(invert ? 255.f - v : v);
    }
}

void syn_render_endo(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch) {
    const int S = sc->S;
    const long n = (long)S * S;
    float *ch[3] = {scratch, scratch + n, scratch + 2 * n}, *tex = scratch + 3 * n;
    float base[3] = {(float)syn_uniform(r, 0.75, 0.92), (float)syn_uniform(r, 0.32, 0.5), (float)syn_uniform(r, 0.25, 0.42)};
    float dir[3];  // colour direction of objects: redder, paler or bluish
    int look = syn_int(r, 0, 2);
    dir[0] = look == 0 ? 0.15f : look == 1 ? 0.3f : -0.2f;
    dir[1] = look == 0 ? -0.25f : look == 1 ? 0.35f : -0.1f;
    dir[2] = look == 0 ? -0.2f : look == 1 ? 0.3f : 0.25f;
    syn_noise(r, tex, S, 6, 4);
    const float cx = S * (float)syn_uniform(r, 0.35, 0.65), cy = S * (float)syn_uniform(r, 0.35, 0.65);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            long i = (long)y * S + x;
            float dx = (x - cx) / S, dy = (y - cy) / S;
            float light = (1.f - 1.4f * (dx * dx + dy * dy)) * (1.f + 0.15f * tex[i]);
            for (int c = 0; c < 3; c++)
                ch[c][i] = sc->body[i] ? (base[c] + 1.2f * (sc->prop[i] - 0.5f) * dir[c] + 0.04f * tex[i]) * light : 0.f;
        }
    int nspec = syn_int(r, 3, 15);  // specular highlights
    for (int k = 0; k < nspec; k++) {
        float sx = (float)syn_uniform(r, 0, S), sy = (float)syn_uniform(r, 0, S), rad = (float)syn_uniform(r, 1.0, 5.0) * px(sc);
        for (int y = (int)(sy - 2 * rad); y <= (int)(sy + 2 * rad); y++)
            for (int x = (int)(sx - 2 * rad); x <= (int)(sx + 2 * rad); x++) {
                if (x < 0 || y < 0 || x >= S || y >= S || !sc->body[(long)y * S + x]) continue;
                float d2 = ((x - sx) * (x - sx) + (y - sy) * (y - sy)) / (rad * rad);
                float a = expf(-d2 * 1.5f);
                for (int c = 0; c < 3; c++) ch[c][(long)y * S + x] += a * (1.1f - ch[c][(long)y * S + x]);
            }
    }
    for (int c = 0; c < 3; c++) syn_blur(ch[c], S, S, 0.7f * px(sc), tex);
    for (long i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) image[i * 3 + c] = syn_u8((ch[c][i] + 0.01f * (float)syn_normal(r)) * 255.f);
}

void syn_render_path(syn_rng *r, const syn_scene *sc, uint8_t *image, float *scratch) {
    const int S = sc->S;
    const long n = (long)S * S;
    float *hem = scratch, *eos = scratch + n, *tex = scratch + 2 * n, *tmp = scratch + 3 * n;
    /* optical density vectors of haematoxylin and eosin (Ruifrok & Johnston), jittered per slide */
    float hv[3] = {0.65f, 0.70f, 0.29f}, ev[3] = {0.07f, 0.99f, 0.11f};
    for (int c = 0; c < 3; c++) hv[c] *= (float)syn_uniform(r, 0.85, 1.15), ev[c] *= (float)syn_uniform(r, 0.85, 1.15);
    const float stain = (float)syn_uniform(r, 0.6, 1.4);
    syn_noise(r, tex, S, 16, 4);
    for (long i = 0; i < n; i++) {
        float p = sc->prop[i] - 0.5f;
        eos[i] = stain * (0.35f + 0.2f * tex[i] + (p < 0.f ? 1.2f * p : 0.3f * p));
        hem[i] = stain * (0.08f + 0.05f * tex[i] + (p > 0.f ? 0.9f * p : 0.f));
    }
    /* nuclei: small dark ellipses, denser where the property is high */
    const long nnuc = (long)(n / (float)syn_uniform(r, 60.0, 200.0));
    for (long k = 0; k < nnuc; k++) {
        int x = syn_int(r, 0, S - 1), y = syn_int(r, 0, S - 1);
        float p = sc->prop[(long)y * S + x];
        if (syn_uniform(r, 0, 1) > 0.35 + 0.8 * (p - 0.3)) continue;
        float rad = (float)syn_uniform(r, 1.2, 3.5) * px(sc), asp = (float)syn_uniform(r, 0.5, 1.0);
        float th = (float)syn_uniform(r, 0, 6.2832), c = cosf(th), s = sinf(th), dark = (float)syn_uniform(r, 0.5, 1.1);
        for (int yy = (int)(y - rad - 1); yy <= (int)(y + rad + 1); yy++)
            for (int xx = (int)(x - rad - 1); xx <= (int)(x + rad + 1); xx++) {
                if (xx < 0 || yy < 0 || xx >= S || yy >= S) continue;
                float dx = xx - x, dy = yy - y, u = c * dx + s * dy, v = (-s * dx + c * dy) / asp;
                if (u * u + v * v <= rad * rad) hem[(long)yy * S + xx] += stain * dark;
            }
    }
    syn_blur(hem, S, S, 0.5f * px(sc), tmp);
    for (long i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            float od = (hem[i] > 0.f ? hem[i] : 0.f) * hv[c] + (eos[i] > 0.f ? eos[i] : 0.f) * ev[c];
            image[i * 3 + c] = syn_u8(255.f * expf(-od) + 2.f * (float)syn_normal(r));
        }
}
