// dlib's MMOD CNN face detector (the network definition of dlib's mmod_human_face_detector.dat).
#include "common.hpp"

#include <dlib/dnn.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>

#include <vector>

namespace dfk {
namespace mmodnet {
using namespace dlib;
template <long num_filters, typename SUBNET> using con5d = con<num_filters, 5, 5, 2, 2, SUBNET>;
template <long num_filters, typename SUBNET> using con5 = con<num_filters, 5, 5, 1, 1, SUBNET>;
template <typename SUBNET>
using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, SUBNET>>>>>>>>>;
template <typename SUBNET> using rcon5 = relu<affine<con5<45, SUBNET>>>;
using net_type = loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<
    input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;
}  // namespace mmodnet

struct MMOD {
  mmodnet::net_type net;
};

MMOD *mmod_load(const std::string &path) {
  auto *m = new MMOD;
  try {
    dlib::deserialize(path) >> m->net;
  } catch (...) {
    delete m;
    throw std::runtime_error("not a dlib MMOD detector file: " + path);
  }
  return m;
}

void mmod_free(MMOD *m) { delete m; }

std::vector<dfk_face_box> mmod_detect(MMOD *m, const cv::Mat &bgr, int upsample, double threshold) {
  dlib::matrix<dlib::rgb_pixel> img;
  dlib::assign_image(img, dlib::cv_image<dlib::bgr_pixel>(bgr));
  dlib::pyramid_down<2> pyr;
  for (int i = 0; i < upsample; ++i) dlib::pyramid_up(img, pyr);
  std::vector<dfk_face_box> out;
  for (auto &d : m->net.process(img, threshold)) {
    dlib::rectangle r = d.rect;
    if (upsample > 0) r = pyr.rect_down(d.rect, upsample);
    out.push_back({double(r.left()), double(r.top()), double(r.right()), double(r.bottom()), d.detection_confidence});
  }
  return out;
}
}  // namespace dfk
