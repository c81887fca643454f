// Image operations for pseudo-fake synthesis (masks, colour and geometric transforms, blending), on OpenCV.
// Random draws never happen here: callers pass every parameter, so results are reproducible from Swift.
#include "common.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <vector>

using dfk::guard;
using dfk::set_err;

namespace {
int interp(int i) {
  static const int modes[] = {cv::INTER_NEAREST, cv::INTER_LINEAR, cv::INTER_CUBIC, cv::INTER_AREA};
  return modes[std::min(std::max(i, 0), 3)];
}
int border(int b) { return b == 1 ? cv::BORDER_REFLECT_101 : cv::BORDER_CONSTANT; }
dfk_image *wrap(cv::Mat m) { return new dfk_image{std::move(m)}; }
// scipy.ndimage.gaussian_filter(x, sigma) as albumentations' non-approximate elastic transform calls it: computed
// in float64 with a normalised kernel of radius int(4 sigma + 0.5) (truncate 4.0) and the 'reflect' border
// (d c b a | a b c d, OpenCV's BORDER_REFLECT); returned as float32.
cv::Mat scipy_gaussian(const cv::Mat &x, double sigma) {
  const int radius = static_cast<int>(4.0 * sigma + 0.5);
  cv::Mat k(2 * radius + 1, 1, CV_64F);
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) sum += (k.at<double>(i + radius) = std::exp(-0.5 * i * i / (sigma * sigma)));
  k /= sum;
  cv::Mat d, out;
  x.convertTo(d, CV_64F);
  cv::sepFilter2D(d, out, CV_64F, k, k, cv::Point(-1, -1), 0, cv::BORDER_REFLECT);
  out.convertTo(out, CV_32F);
  return out;
}
bool need_bgr(const dfk_image *img, char **err) {
  if (img->m.type() != CV_8UC3) { set_err(err, "operation needs an 8-bit BGR image"); return false; }
  return true;
}
}  // namespace

extern "C" {

dfk_image *dfk_convert(const dfk_image *img, int depth, double scale, double shift, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    cv::Mat out;
    img->m.convertTo(out, depth == DFK_F32 ? CV_32F : CV_8U, scale, shift);
    return wrap(out);
  });
}

dfk_image *dfk_flip_horizontal(const dfk_image *img, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    cv::Mat out;
    cv::flip(img->m, out, 1);
    return wrap(out);
  });
}

int dfk_fill_poly_inplace(dfk_image *img, const double *xy, int n, int hull, double value, int line_type, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (n < 3) { set_err(err, "a polygon needs at least 3 points"); return -1; }
    std::vector<cv::Point> pts(n);
    for (int i = 0; i < n; ++i) pts[i] = cv::Point(static_cast<int>(std::lround(xy[2 * i])), static_cast<int>(std::lround(xy[2 * i + 1])));
    if (hull) {
      std::vector<cv::Point> h;
      cv::convexHull(pts, h);
      pts.swap(h);
    }
    cv::fillConvexPoly(img->m, pts, cv::Scalar::all(value), line_type == 16 ? cv::LINE_AA : cv::LINE_8);
    return 0;
  });
}

int dfk_draw_line_inplace(dfk_image *img, double x0, double y0, double x1, double y1, int thickness, double value,
                          int line_type, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    cv::line(img->m, cv::Point(std::lround(x0), std::lround(y0)), cv::Point(std::lround(x1), std::lround(y1)),
             cv::Scalar::all(value), std::max(1, thickness), line_type == 16 ? cv::LINE_AA : cv::LINE_8);
    return 0;
  });
}

dfk_image *dfk_blur(const dfk_image *img, int kind, int ksize, double sigma, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (ksize < 1 || ksize % 2 == 0) { set_err(err, "blur kernel size must be odd and positive"); return nullptr; }
    cv::Mat out;
    if (kind == 0) cv::GaussianBlur(img->m, out, cv::Size(ksize, ksize), sigma);
    else if (kind == 1) cv::blur(img->m, out, cv::Size(ksize, ksize));
    else {
      // OpenCV's median filter takes float32 only for kernels 3 and 5; larger kernels run on 8-bit data.
      if (img->m.depth() == CV_32F && ksize > 5) {
        double mn = 0, mx = 0;
        cv::minMaxLoc(img->m.reshape(1), &mn, &mx);
        if (mx <= 0) mx = 1;
        cv::Mat u8, med;
        img->m.convertTo(u8, CV_8U, 255.0 / mx);
        cv::medianBlur(u8, med, ksize);
        med.convertTo(out, CV_32F, mx / 255.0);
      } else {
        cv::medianBlur(img->m, out, ksize);
      }
    }
    return wrap(out);
  });
}

double dfk_max_value(const dfk_image *img) {
  double mn = 0, mx = 0;
  cv::minMaxLoc(img->m.reshape(1), &mn, &mx);
  return mx;
}

dfk_image *dfk_combine(const dfk_image *a, const dfk_image *b, int op, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (a->m.size() != b->m.size() || a->m.depth() != b->m.depth()) { set_err(err, "images differ in size or depth"); return nullptr; }
    cv::Mat out;
    if (op == 0) cv::max(a->m, b->m, out);
    else if (op == 1) {
      cv::subtract(a->m, b->m, out);
      if (out.depth() == CV_32F) cv::max(out, 0.0, out);  // 8-bit subtraction already saturates at 0
    } else {
      cv::Mat bb = b->m;
      if (bb.channels() == 1 && a->m.channels() > 1) {
        std::vector<cv::Mat> ch(a->m.channels(), bb);
        cv::merge(ch, bb);
      }
      cv::multiply(a->m, bb, out);
    }
    return wrap(out);
  });
}

int dfk_zero_below_inplace(dfk_image *img, double threshold, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    cv::Mat low = img->m < threshold;
    img->m.setTo(0, low);
    return 0;
  });
}

dfk_image *dfk_warp_affine(const dfk_image *img, const double *m23, int width, int height, int interpolation,
                           int bord, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    cv::Mat M(2, 3, CV_64F, const_cast<double *>(m23));
    cv::Mat out;
    cv::warpAffine(img->m, out, M, cv::Size(width, height), interp(interpolation), border(bord));
    return wrap(out);
  });
}

dfk_image *dfk_elastic(const dfk_image *img, const float *dx, const float *dy, double alpha, double sigma, int ksize,
                       int interpolation, int bord, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    const int h = img->m.rows, w = img->m.cols;
    cv::Mat fx(h, w, CV_32F, const_cast<float *>(dx)), fy(h, w, CV_32F, const_cast<float *>(dy));
    cv::Mat bx, by;
    if (ksize > 0) {
      cv::GaussianBlur(fx, bx, cv::Size(ksize, ksize), sigma);
      cv::GaussianBlur(fy, by, cv::Size(ksize, ksize), sigma);
    } else {
      bx = scipy_gaussian(fx, sigma);
      by = scipy_gaussian(fy, sigma);
    }
    cv::Mat mapx(h, w, CV_32F), mapy(h, w, CV_32F);
    for (int y = 0; y < h; ++y) {
      const float *px = bx.ptr<float>(y), *py = by.ptr<float>(y);
      float *mx = mapx.ptr<float>(y), *my = mapy.ptr<float>(y);
      for (int x = 0; x < w; ++x) {
        mx[x] = static_cast<float>(x + alpha * px[x]);
        my[x] = static_cast<float>(y + alpha * py[x]);
      }
    }
    cv::Mat out;
    cv::remap(img->m, out, mapx, mapy, interp(interpolation), border(bord));
    return wrap(out);
  });
}

dfk_image *dfk_gaussian_filter(const dfk_image *img, double sigma, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (img->m.type() != CV_32FC1) { set_err(err, "gaussian filter needs a float32 one-channel image"); return nullptr; }
    if (!(sigma > 0)) { set_err(err, "gaussian filter needs a positive sigma"); return nullptr; }
    return wrap(scipy_gaussian(img->m, sigma));
  });
}

dfk_image *dfk_rgb_shift(const dfk_image *img, int r, int g, int b, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (!need_bgr(img, err)) return nullptr;
    cv::Mat out;
    cv::add(img->m, cv::Scalar(b, g, r), out);  // saturating
    return wrap(out);
  });
}

dfk_image *dfk_hsv_shift(const dfk_image *img, double hue, double sat, double val, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (!need_bgr(img, err)) return nullptr;
    cv::Mat hsv;
    cv::cvtColor(img->m, hsv, cv::COLOR_BGR2HSV);
    cv::Mat lh(1, 256, CV_8U), ls(1, 256, CV_8U), lv(1, 256, CV_8U);
    for (int i = 0; i < 256; ++i) {
      double h = std::fmod(i + hue, 180.0);
      if (h < 0) h += 180.0;
      lh.at<uint8_t>(i) = static_cast<uint8_t>(std::min(std::max(std::trunc(h), 0.0), 255.0));
      ls.at<uint8_t>(i) = static_cast<uint8_t>(std::trunc(std::min(std::max(i + sat, 0.0), 255.0)));
      lv.at<uint8_t>(i) = static_cast<uint8_t>(std::trunc(std::min(std::max(i + val, 0.0), 255.0)));
    }
    std::vector<cv::Mat> ch;
    cv::split(hsv, ch);
    cv::LUT(ch[0], lh, ch[0]);
    cv::LUT(ch[1], ls, ch[1]);
    cv::LUT(ch[2], lv, ch[2]);
    cv::merge(ch, hsv);
    cv::Mat out;
    cv::cvtColor(hsv, out, cv::COLOR_HSV2BGR);
    return wrap(out);
  });
}

dfk_image *dfk_brightness_contrast(const dfk_image *img, double brightness, double contrast, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (!need_bgr(img, err)) return nullptr;
    cv::Mat lut(1, 256, CV_8U);
    const double alpha = 1.0 + contrast, beta = brightness * 255.0;
    for (int i = 0; i < 256; ++i) lut.at<uint8_t>(i) = cv::saturate_cast<uint8_t>(i * alpha + beta);
    cv::Mat out;
    cv::LUT(img->m, lut, out);
    return wrap(out);
  });
}

dfk_image *dfk_sharpen(const dfk_image *img, double alpha, double lightness, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    cv::Mat k = (cv::Mat_<float>(3, 3) << -1, -1, -1, -1, 8 + lightness, -1, -1, -1, -1);
    cv::Mat id = cv::Mat::zeros(3, 3, CV_32F);
    id.at<float>(1, 1) = 1;
    cv::Mat kernel = (1 - alpha) * id + alpha * k;
    cv::Mat out;
    cv::filter2D(img->m, out, -1, kernel);
    return wrap(out);
  });
}

dfk_image *dfk_jpeg_roundtrip(const dfk_image *img, int quality, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    std::vector<uint8_t> buf;
    if (!cv::imencode(".jpg", img->m, buf, {cv::IMWRITE_JPEG_QUALITY, quality})) { set_err(err, "JPEG encoding failed"); return nullptr; }
    cv::Mat out = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
    if (out.empty()) { set_err(err, "JPEG decoding failed"); return nullptr; }
    return wrap(out);
  });
}

dfk_image *dfk_blend(const dfk_image *src, const dfk_image *tgt, const dfk_image *mask, char **err) {
  return dfk_blend_cast(src, tgt, mask, 0, err);
}

dfk_image *dfk_blend_cast(const dfk_image *src, const dfk_image *tgt, const dfk_image *mask, int truncate, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (src->m.type() != CV_8UC3 || tgt->m.type() != CV_8UC3 || src->m.size() != tgt->m.size()) {
      set_err(err, "blend needs two 8-bit BGR images of the same size");
      return nullptr;
    }
    if (mask->m.type() != CV_32FC1 || mask->m.size() != src->m.size()) {
      set_err(err, "blend needs a float32 one-channel mask of the image size");
      return nullptr;
    }
    cv::Mat out(src->m.size(), CV_8UC3);
    for (int y = 0; y < out.rows; ++y) {
      const uint8_t *s = src->m.ptr<uint8_t>(y), *t = tgt->m.ptr<uint8_t>(y);
      const float *m = mask->m.ptr<float>(y);
      uint8_t *o = out.ptr<uint8_t>(y);
      for (int x = 0; x < out.cols; ++x) {
        const float a = m[x];
        if (truncate) {
          // NumPy: the float64 blend cast with astype(np.uint8), i.e. truncated toward zero.
          const double ad = a;
          for (int c = 0; c < 3; ++c) {
            const double v = ad * s[3 * x + c] + (1.0 - ad) * t[3 * x + c];
            o[3 * x + c] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
          }
          continue;
        }
        for (int c = 0; c < 3; ++c) {
          const float v = a * s[3 * x + c] + (1.0f - a) * t[3 * x + c];
          o[3 * x + c] = cv::saturate_cast<uint8_t>(v);
        }
      }
    }
    return wrap(out);
  });
}

dfk_image *dfk_to_bgr(const dfk_image *img, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    cv::Mat out;
    if (img->m.channels() == 1) cv::cvtColor(img->m, out, cv::COLOR_GRAY2BGR);
    else out = img->m.clone();
    return wrap(out);
  });
}

int dfk_paste_inplace(dfk_image *img, const dfk_image *tile, int x, int y, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (img->m.type() != tile->m.type()) { set_err(err, "tile type differs"); return -1; }
    cv::Rect dst(x, y, tile->m.cols, tile->m.rows);
    cv::Rect clip = dst & cv::Rect(0, 0, img->m.cols, img->m.rows);
    if (clip.empty()) return 0;
    tile->m(cv::Rect(clip.x - x, clip.y - y, clip.width, clip.height)).copyTo(img->m(clip));
    return 0;
  });
}

dfk_image *dfk_remap(const dfk_image *img, const float *mapx, const float *mapy, int width, int height, int interpolation,
                     int bord, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() {
    cv::Mat mx(height, width, CV_32F, const_cast<float *>(mapx)), my(height, width, CV_32F, const_cast<float *>(mapy));
    cv::Mat out;
    cv::remap(img->m, out, mx, my, interp(interpolation), border(bord));
    return wrap(out);
  });
}

}  // extern "C"

extern "C" {

dfk_image *dfk_lut(const dfk_image *img, const uint8_t *tables, int ntables, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (img->m.depth() != CV_8U) { set_err(err, "lookup tables need an 8-bit image"); return nullptr; }
    const int ch = img->m.channels();
    if (ntables != 1 && ntables != ch) { set_err(err, "lookup tables: need 1 table or one per channel"); return nullptr; }
    cv::Mat lut;
    if (ntables == 1) lut = cv::Mat(1, 256, CV_8U, const_cast<uint8_t *>(tables)).clone();
    else {
      lut.create(1, 256, CV_8UC(ch));
      for (int i = 0; i < 256; ++i)
        for (int c = 0; c < ch; ++c) lut.ptr<uint8_t>(0)[i * ch + c] = tables[c * 256 + i];
    }
    cv::Mat out;
    cv::LUT(img->m, lut, out);
    return wrap(out);
  });
}

dfk_image *dfk_swap_rb(const dfk_image *img, char **err) {
  return guard<dfk_image *>(err, nullptr, [&]() -> dfk_image * {
    if (img->m.channels() != 3) { set_err(err, "channel swap needs a 3-channel image"); return nullptr; }
    cv::Mat out;
    cv::cvtColor(img->m, out, cv::COLOR_BGR2RGB);
    return wrap(out);
  });
}

}  // extern "C"
