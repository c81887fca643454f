// Drawing for plots and contact sheets (metrics --plot, train's curves, score-video --sheet): coloured polylines,
// filled and translucent rectangles, and text in OpenCV's Hershey simplex font (ASCII).
#include "common.hpp"

#include <opencv2/imgproc.hpp>

#include <vector>

using dfk::guard;
using dfk::set_err;

namespace {
bool need_bgr(const dfk_image *img, char **err) {
  if (img->m.type() != CV_8UC3) { set_err(err, "drawing needs an 8-bit BGR image"); return false; }
  return true;
}
}  // namespace

extern "C" {

int dfk_draw_polyline_bgr(dfk_image *img, const double *xy, int n, int closed, double b, double g, double r, int thickness,
                          int line_type, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (!need_bgr(img, err)) return -1;
    if (n < 2) return 0;
    // 4 fractional bits: anti-aliased lines land between pixels instead of snapping to them.
    const int shift = 4;
    std::vector<cv::Point> pts(n);
    for (int i = 0; i < n; ++i)
      pts[i] = cv::Point(static_cast<int>(std::lround(xy[2 * i] * 16)), static_cast<int>(std::lround(xy[2 * i + 1] * 16)));
    const cv::Point *p = pts.data();
    cv::polylines(img->m, &p, &n, 1, closed != 0, cv::Scalar(b, g, r), std::max(1, thickness),
                  line_type == 16 ? cv::LINE_AA : cv::LINE_8, shift);
    return 0;
  });
}

int dfk_fill_rect_bgr(dfk_image *img, int x, int y, int w, int h, double b, double g, double r, double alpha, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (!need_bgr(img, err)) return -1;
    cv::Rect rect = cv::Rect(x, y, w, h) & cv::Rect(0, 0, img->m.cols, img->m.rows);
    if (rect.empty()) return 0;
    cv::Mat roi = img->m(rect);
    if (alpha >= 1) { roi.setTo(cv::Scalar(b, g, r)); return 0; }
    cv::Mat colour(roi.size(), roi.type(), cv::Scalar(b, g, r));
    cv::addWeighted(colour, std::max(0.0, alpha), roi, 1 - std::max(0.0, alpha), 0, roi);
    return 0;
  });
}

int dfk_draw_text_bgr(dfk_image *img, const char *text, int x, int y, double scale, double b, double g, double r,
                      int thickness, int vertical, char **err) {
  return guard<int>(err, -1, [&]() -> int {
    if (!need_bgr(img, err)) return -1;
    const int font = cv::FONT_HERSHEY_SIMPLEX, t = std::max(1, thickness);
    if (!vertical) {
      cv::putText(img->m, text, cv::Point(x, y), font, scale, cv::Scalar(b, g, r), t, cv::LINE_AA);
      return 0;
    }
    // Rotated 90 degrees counter-clockwise, reading upwards; (x, y) is then the bottom-left of the baseline's
    // rotated position. Drawn as a coverage mask, rotated, and blended into the image.
    int base = 0;
    cv::Size s = cv::getTextSize(text, font, scale, t, &base);
    cv::Mat mask = cv::Mat::zeros(s.height + base + 2 * t, s.width + 2 * t, CV_8UC1);
    cv::putText(mask, text, cv::Point(t, s.height + t), font, scale, cv::Scalar(255), t, cv::LINE_AA);
    cv::Mat rot;
    cv::rotate(mask, rot, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int x0 = x - (s.height + t), y0 = y - rot.rows;
    for (int j = 0; j < rot.rows; ++j) {
      const int yy = y0 + j;
      if (yy < 0 || yy >= img->m.rows) continue;
      for (int i = 0; i < rot.cols; ++i) {
        const int xx = x0 + i;
        if (xx < 0 || xx >= img->m.cols) continue;
        const double a = rot.at<uint8_t>(j, i) / 255.0;
        if (a <= 0) continue;
        cv::Vec3b &px = img->m.at<cv::Vec3b>(yy, xx);
        px[0] = cv::saturate_cast<uint8_t>(px[0] * (1 - a) + b * a);
        px[1] = cv::saturate_cast<uint8_t>(px[1] * (1 - a) + g * a);
        px[2] = cv::saturate_cast<uint8_t>(px[2] * (1 - a) + r * a);
      }
    }
    return 0;
  });
}

void dfk_text_size(const char *text, double scale, int thickness, int *width, int *height, int *baseline) {
  int base = 0;
  cv::Size s(0, 0);
  try { s = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, std::max(1, thickness), &base); } catch (...) {}
  if (width) *width = s.width;
  if (height) *height = s.height;
  if (baseline) *baseline = base;
}

}  // extern "C"
