// OpenCV images and video, dlib HOG detection and shape prediction behind the C interface of CVision.h.
#include "common.hpp"

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>

#include <png.h>

#include <csetjmp>
#include <fstream>
#include <memory>
#include <vector>

using dfk::guard;
using dfk::set_err;

namespace {
// Problems are reported once, as error messages through this interface; OpenCV's and FFmpeg's own
// console logging would add unstructured lines to stderr. Users can still turn it on with
// OPENCV_LOG_LEVEL / OPENCV_FFMPEG_LOGLEVEL (-8 is FFmpeg's AV_LOG_QUIET).
struct QuietLogs {
  QuietLogs() {
    if (!std::getenv("OPENCV_LOG_LEVEL")) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", 0);
  }
} quiet_logs;
}  // namespace

extern "C" {

void dfk_string_free(char *s) { std::free(s); }
void dfk_buffer_free(uint8_t *p) { std::free(p); }
void dfk_set_num_threads(int n) { cv::setNumThreads(n); }

// ---- images ---------------------------------------------------------------------------------------
dfk_image *dfk_image_read(const char *path, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (!std::ifstream(path, std::ios::binary).good()) { set_err(err, "cannot open file"); return nullptr; }
    cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);   // EXIF orientation applied, as cv2.imread does
    if (m.empty()) {
      set_err(err, "not a readable image (unknown format or corrupt data)");
      return nullptr;
    }
    return new dfk_image{m};
  });
}

dfk_image *dfk_image_decode(const uint8_t *bytes, size_t len, int unchanged, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    cv::Mat buf(1, static_cast<int>(len), CV_8UC1, const_cast<uint8_t *>(bytes));
    cv::Mat m = cv::imdecode(buf, unchanged ? cv::IMREAD_UNCHANGED : cv::IMREAD_COLOR);
    if (m.empty()) {
      set_err(err, "not a readable image (unknown format or corrupt data)");
      return nullptr;
    }
    return new dfk_image{m};
  });
}

dfk_image *dfk_image_new(int width, int height, int channels, int depth, const void *data, size_t step, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4) {
      set_err(err, "invalid image size or channel count");
      return nullptr;
    }
    int type = CV_MAKETYPE(depth == DFK_F32 ? CV_32F : CV_8U, channels);
    auto *img = new dfk_image{cv::Mat::zeros(height, width, type)};
    if (data) {
      size_t rowBytes = img->m.cols * img->m.elemSize();
      size_t srcStep = step ? step : rowBytes;
      for (int y = 0; y < height; ++y)
        std::memcpy(img->m.ptr(y), static_cast<const uint8_t *>(data) + y * srcStep, rowBytes);
    }
    return img;
  });
}

dfk_image *dfk_image_clone(const dfk_image *img) {
  return guard<dfk_image *>(nullptr, nullptr, [&]() { return new dfk_image{img->m.clone()}; });
}

void dfk_image_free(dfk_image *img) { delete img; }

void dfk_image_info(const dfk_image *img, int *width, int *height, int *channels, int *depth, size_t *step) {
  if (width) *width = img->m.cols;
  if (height) *height = img->m.rows;
  if (channels) *channels = img->m.channels();
  if (depth) *depth = img->m.depth() == CV_32F ? DFK_F32 : DFK_U8;
  if (step) *step = img->m.step[0];
}

uint8_t *dfk_image_data(dfk_image *img) { return img->m.data; }

}  // extern "C"

namespace {
// PNG through libpng with the "up" row filter. OpenCV's encoder does not let callers pick the filter and
// lets libpng try all five per row; "up" alone is ~1.75x faster at zlib level 1 and gives smaller files on
// video frames (measured on 640x360 frames: 7.4 ms / 218 KB against 13 ms / 237 KB).
struct PngSink {
  std::vector<uint8_t> bytes;
  std::string error;
};
void png_sink_write(png_structp p, png_bytep d, png_size_t n) {
  auto *s = static_cast<PngSink *>(png_get_io_ptr(p));
  s->bytes.insert(s->bytes.end(), d, d + n);
}
void png_sink_flush(png_structp) {}
void png_sink_error(png_structp p, png_const_charp msg) {
  static_cast<PngSink *>(png_get_error_ptr(p))->error = msg;
  png_longjmp(p, 1);
}
void png_sink_warning(png_structp, png_const_charp) {}

bool encode_png_up(const cv::Mat &m, int level, PngSink &sink) {
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_sink_error, png_sink_warning);
  if (!p) { sink.error = "cannot create PNG writer"; return false; }
  png_infop info = png_create_info_struct(p);
  if (!info || setjmp(png_jmpbuf(p))) {
    png_destroy_write_struct(&p, &info);
    if (sink.error.empty()) sink.error = "PNG encoding failed";
    return false;
  }
  sink.bytes.reserve(m.total() * m.elemSize() / 2);
  png_set_write_fn(p, &sink, png_sink_write, png_sink_flush);
  png_set_IHDR(p, info, m.cols, m.rows, 8, m.channels() == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_filter(p, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
  png_set_compression_level(p, level);
  png_write_info(p, info);
  if (m.channels() == 3) png_set_bgr(p);
  for (int y = 0; y < m.rows; ++y) png_write_row(p, const_cast<png_bytep>(m.ptr(y)));
  png_write_end(p, info);
  png_destroy_write_struct(&p, &info);
  return true;
}
}  // namespace

extern "C" {

int dfk_image_encode(const dfk_image *img, const char *ext, int param, uint8_t **out, size_t *len, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    std::vector<int> params;
    std::string e(ext);
    if (e == ".png" && img->m.depth() == CV_8U && (img->m.channels() == 3 || img->m.channels() == 1)) {
      PngSink sink;
      if (!encode_png_up(img->m, param >= 0 ? std::min(param, 9) : 1, sink)) { set_err(err, sink.error); return -1; }
      *out = static_cast<uint8_t *>(std::malloc(sink.bytes.size()));
      if (!*out) { set_err(err, "out of memory"); return -1; }
      std::memcpy(*out, sink.bytes.data(), sink.bytes.size());
      *len = sink.bytes.size();
      return 0;
    }
    if (param >= 0) {
      if (e == ".png") params = {cv::IMWRITE_PNG_COMPRESSION, param};
      else if (e == ".jpg" || e == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, param};
    }
    std::vector<uint8_t> buf;
    if (!cv::imencode(e, img->m, buf, params)) {
      set_err(err, "cannot encode image as " + e);
      return -1;
    }
    *out = static_cast<uint8_t *>(std::malloc(buf.size() ? buf.size() : 1));
    if (!*out) { set_err(err, "out of memory"); return -1; }
    std::memcpy(*out, buf.data(), buf.size());
    *len = buf.size();
    return 0;
  });
}

dfk_image *dfk_image_crop(const dfk_image *img, int x, int y, int w, int h, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > img->m.cols || y + h > img->m.rows) {
      set_err(err, "crop rectangle outside the image");
      return nullptr;
    }
    return new dfk_image{img->m(cv::Rect(x, y, w, h)).clone()};
  });
}

dfk_image *dfk_image_resize(const dfk_image *img, int width, int height, int interpolation, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    static const int modes[] = {cv::INTER_NEAREST, cv::INTER_LINEAR, cv::INTER_CUBIC, cv::INTER_AREA};
    if (width <= 0 || height <= 0) { set_err(err, "invalid target size"); return nullptr; }
    cv::Mat out;
    cv::resize(img->m, out, cv::Size(width, height), 0, 0, modes[std::min(std::max(interpolation, 0), 3)]);
    return new dfk_image{out};
  });
}

// ---- video ----------------------------------------------------------------------------------------
struct dfk_video {
  cv::VideoCapture cap;
};

dfk_video *dfk_video_open(const char *path, int threads, char **err) {
  return guard<dfk_video *>(err, nullptr, [&]() -> dfk_video * {
    {
      std::ifstream f(path, std::ios::binary);
      if (!f.good()) { set_err(err, "cannot open file"); return nullptr; }
    }
    auto v = std::make_unique<dfk_video>();
    (void)threads;  // OpenCV 4.6 sizes FFmpeg's decoder thread pool itself (CAP_PROP_N_THREADS came in 4.7).
    if (!v->cap.open(path, cv::CAP_FFMPEG) || !v->cap.isOpened()) {
      set_err(err, "not a readable video (unknown container or codec, or corrupt data)");
      return nullptr;
    }
    return v.release();
  });
}

void dfk_video_free(dfk_video *v) { delete v; }

void dfk_video_props(dfk_video *v, int64_t *frame_count, double *fps, int *width, int *height) {
  try {
    if (frame_count) *frame_count = static_cast<int64_t>(v->cap.get(cv::CAP_PROP_FRAME_COUNT));
    if (fps) *fps = v->cap.get(cv::CAP_PROP_FPS);
    if (width) *width = static_cast<int>(v->cap.get(cv::CAP_PROP_FRAME_WIDTH));
    if (height) *height = static_cast<int>(v->cap.get(cv::CAP_PROP_FRAME_HEIGHT));
  } catch (...) {
  }
}

int dfk_video_seek(dfk_video *v, int64_t index, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (!v->cap.set(cv::CAP_PROP_POS_FRAMES, static_cast<double>(index))) {
      set_err(err, "seek failed");
      return -1;
    }
    return 0;
  });
}

int64_t dfk_video_position(dfk_video *v) {
  return guard<int64_t>(nullptr, -1, [&]() { return static_cast<int64_t>(v->cap.get(cv::CAP_PROP_POS_FRAMES)); });
}

double dfk_video_msec(dfk_video *v) {
  return guard<double>(nullptr, -1.0, [&]() { return v->cap.get(cv::CAP_PROP_POS_MSEC); });
}

int dfk_video_grab(dfk_video *v) {
  return guard<int>(nullptr, 0, [&]() { return v->cap.grab() ? 1 : 0; });
}

dfk_image *dfk_video_retrieve(dfk_video *v, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    cv::Mat m;
    if (!v->cap.retrieve(m) || m.empty()) { set_err(err, "cannot convert the decoded frame"); return nullptr; }
    if (m.type() != CV_8UC3) {
      cv::Mat c;
      if (m.channels() == 1) cv::cvtColor(m, c, cv::COLOR_GRAY2BGR);
      else if (m.channels() == 4) cv::cvtColor(m, c, cv::COLOR_BGRA2BGR);
      else m.convertTo(c, CV_8U);
      m = c;
    }
    return new dfk_image{m};
  });
}

struct dfk_video_writer {
  cv::VideoWriter w;
  cv::Size size;
};

dfk_video_writer *dfk_video_writer_open(const char *path, const char *fourcc, double fps, int width, int height,
                                        char **err) {
  return guard<dfk_video_writer *>(err, nullptr, [&]() -> dfk_video_writer * {
    if (std::strlen(fourcc) != 4) { set_err(err, "fourcc must have 4 characters"); return nullptr; }
    auto w = std::make_unique<dfk_video_writer>();
    w->size = cv::Size(width, height);
    int cc = cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]);
    if (!w->w.open(path, cv::CAP_FFMPEG, cc, fps, w->size, true)) { set_err(err, "cannot open video for writing"); return nullptr; }
    return w.release();
  });
}

int dfk_video_writer_write(dfk_video_writer *w, const dfk_image *frame, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (frame->m.type() != CV_8UC3 || frame->m.size() != w->size) { set_err(err, "frame size or type differs from the video's"); return -1; }
    w->w.write(frame->m);
    return 0;
  });
}

void dfk_video_writer_close(dfk_video_writer *w) {
  try { if (w) w->w.release(); } catch (...) {}
  delete w;
}

// ---- faces ----------------------------------------------------------------------------------------
}  // extern "C"

// Implemented in mmod.cpp (kept apart: dlib's DNN templates are slow to compile).
namespace dfk {
struct MMOD;
MMOD *mmod_load(const std::string &path);
void mmod_free(MMOD *m);
std::vector<dfk_face_box> mmod_detect(MMOD *m, const cv::Mat &bgr, int upsample, double threshold);
}  // namespace dfk

struct dfk_detector {
  dlib::frontal_face_detector hog;
  dfk::MMOD *mmod = nullptr;
  ~dfk_detector() { if (mmod) dfk::mmod_free(mmod); }
};

extern "C" {

dfk_detector *dfk_detector_hog(char **err) {
  return guard<dfk_detector *>(err, nullptr, [&]() {
    auto *d = new dfk_detector;
    d->hog = dlib::get_frontal_face_detector();
    return d;
  });
}

dfk_detector *dfk_detector_mmod(const char *model_path, char **err) {
  return guard<dfk_detector *>(err, nullptr, [&]() -> dfk_detector * {
    {
      std::ifstream f(model_path, std::ios::binary);
      if (!f.good()) { set_err(err, "cannot open file"); return nullptr; }
    }
    auto d = std::make_unique<dfk_detector>();
    d->mmod = dfk::mmod_load(model_path);
    return d.release();
  });
}

void dfk_detector_free(dfk_detector *d) { delete d; }

int dfk_detect(dfk_detector *d, const dfk_image *img, int upsample, double threshold, dfk_face_box **boxes,
               char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (img->m.type() != CV_8UC3) { set_err(err, "face detection needs an 8-bit BGR image"); return -1; }
    std::vector<dfk_face_box> found;
    if (d->mmod) {
      found = dfk::mmod_detect(d->mmod, img->m, upsample, threshold);
    } else {
      // fHOG takes, per pixel, the channel with the strongest gradient: channel order does not matter.
      dlib::cv_image<dlib::bgr_pixel> view(img->m);
      std::vector<dlib::rect_detection> dets;
      if (upsample <= 0) {
        d->hog(view, dets, threshold);
      } else {
        dlib::array2d<dlib::bgr_pixel> up;
        dlib::assign_image(up, view);
        dlib::pyramid_down<2> pyr;
        for (int i = 0; i < upsample; ++i) dlib::pyramid_up(up, pyr);
        d->hog(up, dets, threshold);
        for (auto &r : dets) r.rect = pyr.rect_down(r.rect, upsample);
      }
      for (auto &r : dets)
        found.push_back({double(r.rect.left()), double(r.rect.top()), double(r.rect.right()),
                         double(r.rect.bottom()), r.detection_confidence});
    }
    *boxes = static_cast<dfk_face_box *>(std::malloc(sizeof(dfk_face_box) * (found.size() + 1)));
    if (!*boxes) { set_err(err, "out of memory"); return -1; }
    std::copy(found.begin(), found.end(), *boxes);
    return static_cast<int>(found.size());
  });
}

struct dfk_predictor {
  dlib::shape_predictor sp;
};

dfk_predictor *dfk_predictor_load(const char *path, char **err) {
  return guard<dfk_predictor *>(err, nullptr, [&]() -> dfk_predictor * {
    std::ifstream f(path, std::ios::binary);
    if (!f.good()) { set_err(err, "cannot open file"); return nullptr; }
    auto p = std::make_unique<dfk_predictor>();
    try {
      dlib::deserialize(p->sp, f);
    } catch (const dlib::serialization_error &e) {
      set_err(err, std::string("not a dlib shape predictor file (") + e.what() + ")");
      return nullptr;
    }
    if (p->sp.num_parts() == 0) { set_err(err, "shape predictor has no parts"); return nullptr; }
    return p.release();
  });
}

void dfk_predictor_free(dfk_predictor *p) { delete p; }
int dfk_predictor_num_parts(const dfk_predictor *p) { return static_cast<int>(p->sp.num_parts()); }

int dfk_predict(const dfk_predictor *p, const dfk_image *img, dfk_face_box box, double *xy, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (img->m.type() != CV_8UC3) { set_err(err, "landmark prediction needs an 8-bit BGR image"); return -1; }
    dlib::cv_image<dlib::bgr_pixel> view(img->m);
    dlib::rectangle r(std::lround(box.left), std::lround(box.top), std::lround(box.right), std::lround(box.bottom));
    dlib::full_object_detection s = p->sp(view, r);
    for (unsigned long i = 0; i < s.num_parts(); ++i) {
      xy[2 * i] = s.part(i).x();
      xy[2 * i + 1] = s.part(i).y();
    }
    return static_cast<int>(s.num_parts());
  });
}

}  // extern "C"
