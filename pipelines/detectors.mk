# The face detector of a reproduce pipeline's paper (shared by pipelines/reproduce*.mk). Set PIPELINE (the name in
# messages) and PAPER_DETECTOR (hog, mtcnn or retinaface) before including. Training faces (landmarks) and test
# faces (score-video) both come from $(DETECTOR_FLAGS), so test crops are cut from the detector training saw.
#   DETECTOR=hog|mtcnn|retinaface  another detector than the paper's (the protocol card lists the difference)
#   RETINAFACE=<file>  RetinaFace weights: retinaface-pytorch's resnet50_2020-07-20 (docs/records.md, RetinaFace); not
#                      shipped, so a RetinaFace paper's pipeline refuses without them (DETECTOR=hog runs dlib instead)
#   MTCNN=<dir>        facenet-pytorch's pnet.pt, rnet.pt, onet.pt (default .cache/models/mtcnn, fetched by setup)
# Demo-sized runs (DEMO=1) use the demo set's faces, which are dlib HOG faces.
DETECTOR ?= $(if $(filter 1,$(DEMO)),hog,$(PAPER_DETECTOR))
RETINAFACE ?=
MTCNN ?=
DETECTOR_FLAGS = --detector $(DETECTOR) $(if $(filter retinaface,$(DETECTOR)),--detector-model $(RETINAFACE)) \
  $(if $(filter mtcnn,$(DETECTOR)),$(if $(MTCNN),--detector-model $(MTCNN)))
define check_detector
@case "$(DETECTOR)" in hog|mtcnn|retinaface) ;; *) echo "$(PIPELINE): DETECTOR=$(DETECTOR) is not one of hog, mtcnn, retinaface" >&2; exit 2;; esac
@if [ "$(DETECTOR)" = retinaface ] && [ -z "$(RETINAFACE)" ]; then \
  echo "$(PIPELINE): the paper finds faces with RetinaFace: give RETINAFACE=<retinaface_resnet50_2020-07-20.pth> (retinaface-pytorch's weights, docs/records.md), or DETECTOR=hog for dlib HOG faces cropped around a RetinaFace-like box (not the paper's; the protocol card lists it); nothing was run" >&2; exit 2; fi
@if [ "$(DETECTOR)" = retinaface ] && [ ! -f "$(RETINAFACE)" ]; then echo "$(PIPELINE): RETINAFACE=$(RETINAFACE): no such weight file" >&2; exit 2; fi
@if [ "$(DETECTOR)" = mtcnn ] && [ ! -f "$(or $(MTCNN),.cache/models/mtcnn)/pnet.pt" ]; then \
  echo "$(PIPELINE): MTCNN weights not found in $(or $(MTCNN),.cache/models/mtcnn) (scripts/setup.sh fetches them; MTCNN=<dir> names another folder); nothing was run" >&2; exit 2; fi
endef
