// CVision: a plain C interface to the parts of OpenCV 4 and dlib 19 that DeepfakeKit uses.
//
// Conventions
//  - Every object is an opaque handle created by a *_new/_open/_read function and released by its *_free.
//  - A function that can fail takes `char **err` last. On failure it returns NULL (handles) or a negative
//    value (ints) and stores a malloc'ed, NUL-terminated message in *err, which the caller releases with
//    dfk_string_free. No C++ exception ever crosses this boundary.
//  - Images are cv::Mat: 8-bit BGR (3 channels), 8-bit gray (1 channel) or 32-bit float (1 or 3 channels),
//    rows stored contiguously with `step` bytes per row.
#ifndef DFK_CVISION_H
#define DFK_CVISION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfk_image dfk_image;
typedef struct dfk_video dfk_video;
typedef struct dfk_detector dfk_detector;
typedef struct dfk_predictor dfk_predictor;

void dfk_string_free(char *s);
void dfk_buffer_free(uint8_t *p);

// Number of threads OpenCV may use for its own parallel loops (0 = none, <0 = default).
void dfk_set_num_threads(int n);

// ---- images -------------------------------------------------------------------------------------
enum { DFK_U8 = 0, DFK_F32 = 1 };

// Decodes an image file as 8-bit BGR (colour images) with EXIF orientation applied (as cv2.imread).
dfk_image *dfk_image_read(const char *path, char **err);
dfk_image *dfk_image_decode(const uint8_t *bytes, size_t len, int flags_unchanged, char **err);
// Creates an image (copying `data` when it is not NULL, zero-filled otherwise). `step` 0 means packed rows.
dfk_image *dfk_image_new(int width, int height, int channels, int depth, const void *data, size_t step, char **err);
dfk_image *dfk_image_clone(const dfk_image *img);
void dfk_image_free(dfk_image *img);
void dfk_image_info(const dfk_image *img, int *width, int *height, int *channels, int *depth, size_t *step);
uint8_t *dfk_image_data(dfk_image *img);

// Encodes to a file format chosen by `ext` (".png", ".jpg", ".tiff", ".exr"...). `param` is the PNG
// compression level (0-9) for PNG, the quality (0-100) for JPEG, and ignored otherwise (-1: default).
int dfk_image_encode(const dfk_image *img, const char *ext, int param, uint8_t **out, size_t *len, char **err);
// Copy of the region [x, x+w) x [y, y+h), which must lie inside the image.
dfk_image *dfk_image_crop(const dfk_image *img, int x, int y, int w, int h, char **err);
// interpolation: 0 nearest, 1 bilinear, 2 bicubic, 3 area
dfk_image *dfk_image_resize(const dfk_image *img, int width, int height, int interpolation, char **err);

// ---- image operations (synthesis building blocks) -------------------------------------------------
// All operations return a new image; inputs are never modified unless the name ends in _inplace.

// Converts depth (DFK_U8 / DFK_F32) with out = in * scale + shift (saturating for 8-bit, rounding to nearest).
dfk_image *dfk_convert(const dfk_image *img, int depth, double scale, double shift, char **err);
// Horizontal flip.
dfk_image *dfk_flip_horizontal(const dfk_image *img, char **err);
// Fills a polygon (convex hull of the points if `hull`), value on every channel; line_type 8 or 16 (anti-aliased).
int dfk_fill_poly_inplace(dfk_image *img, const double *xy, int n, int hull, double value, int line_type, char **err);
// Draws a line segment with round caps.
int dfk_draw_line_inplace(dfk_image *img, double x0, double y0, double x1, double y1, int thickness, double value,
                          int line_type, char **err);
// Blur kinds: 0 Gaussian (sigma <= 0: OpenCV's automatic sigma), 1 average (box), 2 median. ksize odd.
dfk_image *dfk_blur(const dfk_image *img, int kind, int ksize, double sigma, char **err);
// Per-image statistics.
double dfk_max_value(const dfk_image *img);
// Element-wise: 0 max(a, b), 1 max(a - b, 0), 2 a * b (channels of b broadcast when b has one channel).
dfk_image *dfk_combine(const dfk_image *a, const dfk_image *b, int op, char **err);
// Values strictly below `threshold` become 0, others unchanged.
int dfk_zero_below_inplace(dfk_image *img, double threshold, char **err);
// 2x3 affine warp into a width x height image; interpolation as dfk_image_resize; border: 0 constant(0), 1 reflect-101.
dfk_image *dfk_warp_affine(const dfk_image *img, const double *m23, int width, int height, int interpolation,
                           int border, char **err);
// Elastic deformation: dx, dy are float32 fields of the image size with values in [-1, 1] (the caller's random
// draws); each is Gaussian-blurred with (ksize, sigma), scaled by alpha, and the image is remapped. ksize <= 0
// smooths as scipy.ndimage.gaussian_filter(sigma) does (float64, radius int(4 sigma + 0.5), 'reflect' border).
dfk_image *dfk_elastic(const dfk_image *img, const float *dx, const float *dy, double alpha, double sigma, int ksize,
                       int interpolation, int border, char **err);
// scipy.ndimage.gaussian_filter(img, sigma) (float64 arithmetic, radius int(4 sigma + 0.5), 'reflect' border) of a
// float32 one-channel image; the smoothing of dfk_elastic with ksize <= 0.
dfk_image *dfk_gaussian_filter(const dfk_image *img, double sigma, char **err);
// 8-bit BGR colour operations with albumentations semantics for uint8 images:
//   shift: adds (b, g, r) and saturates.
dfk_image *dfk_rgb_shift(const dfk_image *img, int r, int g, int b, char **err);
//   HSV: converts to OpenCV's 8-bit HSV, hue (mod 180), saturation and value shifted through lookup tables whose
//   entries are truncated to integers (as numpy's uint8 cast does), then back to BGR.
dfk_image *dfk_hsv_shift(const dfk_image *img, double hue, double sat, double val, char **err);
//   brightness/contrast: out = saturate(in * (1 + contrast) + brightness * 255) through a lookup table.
dfk_image *dfk_brightness_contrast(const dfk_image *img, double brightness, double contrast, char **err);
//   sharpen: 3x3 kernel (1 - alpha) * identity + alpha * [[-1,-1,-1],[-1,8+lightness,-1],[-1,-1,-1]].
dfk_image *dfk_sharpen(const dfk_image *img, double alpha, double lightness, char **err);
// JPEG round trip at `quality`.
dfk_image *dfk_jpeg_roundtrip(const dfk_image *img, int quality, char **err);
// fake = mask * src + (1 - mask) * tgt per pixel, mask float32 1-channel in [0, 1], rounded to nearest 8-bit.
dfk_image *dfk_blend(const dfk_image *src, const dfk_image *tgt, const dfk_image *mask, char **err);
// The same blend; truncate != 0 computes it in float64 and truncates (NumPy's astype(np.uint8)) instead of rounding.
dfk_image *dfk_blend_cast(const dfk_image *src, const dfk_image *tgt, const dfk_image *mask, int truncate, char **err);
// Gray (1 channel) to BGR by channel replication; BGR images are returned as copies.
dfk_image *dfk_to_bgr(const dfk_image *img, char **err);
// Pastes `tile` (same channel count and depth) into `img` at (x, y), clipped.
int dfk_paste_inplace(dfk_image *img, const dfk_image *tile, int x, int y, char **err);
// Backward remap into a width x height image: output(x, y) = img(mapx[y*width+x], mapy[y*width+x]) (float32
// maps, row-major); interpolation and border as dfk_warp_affine.
dfk_image *dfk_remap(const dfk_image *img, const float *mapx, const float *mapy, int width, int height, int interpolation,
                     int border, char **err);

// Lookup tables on an 8-bit image: `tables` holds `ntables` tables of 256 entries each; one table maps every
// channel, otherwise ntables must equal the channel count and table c maps channel c.
dfk_image *dfk_lut(const dfk_image *img, const uint8_t *tables, int ntables, char **err);
// Swaps the first and third channels of a 3-channel image (BGR <-> RGB).
dfk_image *dfk_swap_rb(const dfk_image *img, char **err);

// ---- drawing (plots, contact sheets; draw.cpp) -----------------------------------------------------
// On 8-bit BGR images; colours are (b, g, r) in 0-255; line_type 8 or 16 (anti-aliased).
// Open (closed = 0) or closed polyline through n points (x, y), sub-pixel positions.
int dfk_draw_polyline_bgr(dfk_image *img, const double *xy, int n, int closed, double b, double g, double r, int thickness,
                          int line_type, char **err);
// Fills the rectangle [x, x+w) x [y, y+h) (clipped to the image) with the colour at opacity alpha in [0, 1].
int dfk_fill_rect_bgr(dfk_image *img, int x, int y, int w, int h, double b, double g, double r, double alpha, char **err);
// ASCII text in the Hershey simplex font with its baseline starting at (x, y); `scale` as cv::putText.
// vertical != 0: rotated to read upwards, its baseline's start at (x, y) (a y-axis label).
int dfk_draw_text_bgr(dfk_image *img, const char *text, int x, int y, double scale, double b, double g, double r,
                      int thickness, int vertical, char **err);
// Size of `text` as dfk_draw_text_bgr draws it: width, height above the baseline, and the depth below it.
void dfk_text_size(const char *text, double scale, int thickness, int *width, int *height, int *baseline);

// ---- video --------------------------------------------------------------------------------------
// Opens a video with OpenCV's FFmpeg backend. `threads` is a hint (OpenCV 4.6 sizes the decoder pool itself).
dfk_video *dfk_video_open(const char *path, int threads, char **err);
void dfk_video_free(dfk_video *v);
// Container-reported properties (frame_count may be 0 or wrong: callers must not trust it blindly).
void dfk_video_props(dfk_video *v, int64_t *frame_count, double *fps, int *width, int *height);
// Positions the decoder so that the next grab returns frame `index` (0-based). Returns 0 or -1.
int dfk_video_seek(dfk_video *v, int64_t index, char **err);
// Index of the frame the next grab returns, as the backend reports it.
int64_t dfk_video_position(dfk_video *v);
// Presentation time of the last grabbed frame in milliseconds from the stream start (-1 if unknown).
double dfk_video_msec(dfk_video *v);
// Decodes the next frame without converting it. 1: a frame, 0: end of stream.
int dfk_video_grab(dfk_video *v);
// Converts the last grabbed frame to a BGR image.
dfk_image *dfk_video_retrieve(dfk_video *v, char **err);

// Writes a video with OpenCV's FFmpeg backend; `fourcc` e.g. "MJPG" (AVI) or "mp4v" (MP4).
typedef struct dfk_video_writer dfk_video_writer;
dfk_video_writer *dfk_video_writer_open(const char *path, const char *fourcc, double fps, int width, int height, char **err);
int dfk_video_writer_write(dfk_video_writer *w, const dfk_image *frame, char **err);
void dfk_video_writer_close(dfk_video_writer *w);

// ---- faces --------------------------------------------------------------------------------------
typedef struct {
  double left, top, right, bottom;  // pixel coordinates, right/bottom inclusive as in dlib
  double score;                     // detector confidence
} dfk_face_box;

// dlib's HOG + linear SVM frontal face detector (built into dlib, no file).
dfk_detector *dfk_detector_hog(char **err);
// dlib's MMOD CNN face detector from its model file (mmod_human_face_detector.dat).
dfk_detector *dfk_detector_mmod(const char *model_path, char **err);
void dfk_detector_free(dfk_detector *d);
// Detects faces. `upsample`: number of 2x pyramid-up steps before detection (dlib's upsample_num_times).
// Boxes are returned in the coordinates of `img`; *boxes is malloc'ed (dfk_buffer_free). Returns count or -1.
int dfk_detect(dfk_detector *d, const dfk_image *img, int upsample, double threshold,
               dfk_face_box **boxes, char **err);

dfk_predictor *dfk_predictor_load(const char *path, char **err);
void dfk_predictor_free(dfk_predictor *p);
int dfk_predictor_num_parts(const dfk_predictor *p);
// Predicts the landmarks of the face in `box`; writes num_parts (x, y) pairs to `xy`. Thread-safe.
int dfk_predict(const dfk_predictor *p, const dfk_image *img, dfk_face_box box, double *xy, char **err);

#ifdef __cplusplus
}
#endif
#endif
