#!/usr/bin/env python3
"""Anchor for `make bench`: the same training step as `dfk-bench train-step` in Python PyTorch 1.13 (Debian's
python3-torch, the libtorch version the engine links): forward, cross-entropy, backward, SGD (momentum 0.9).
Models: efficientnet_pytorch (efficientnet-b*), torchvision (resnet*, efficientnetv2_s/l), timm 0.6.13 (convnext_*,
tf_efficientnetv2_*).

usage: train_step_anchor.py MODEL SIZE BATCH STEPS THREADS [bf16]
(bf16: the forward and the loss under torch.autocast("cpu", torch.bfloat16), as `dfk-bench train-step --precision bf16`.)
"""
import json, sys, time
import torch

name, size, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
bf16 = len(sys.argv) > 6 and sys.argv[6] == "bf16"
torch.set_num_threads(threads)
torch.manual_seed(0)
if name.startswith("efficientnet-"):
    from efficientnet_pytorch import EfficientNet
    model = EfficientNet.from_name(name, num_classes=2)
elif name.startswith("convnext") or name.startswith("tf_efficientnetv2"):
    import timm
    model = timm.create_model(name, pretrained=False, num_classes=2)
elif name.startswith("efficientnetv2"):
    import torchvision
    model = getattr(torchvision.models, name.replace("efficientnetv2", "efficientnet_v2"))(num_classes=2)
else:
    import torchvision
    model = getattr(torchvision.models, name)(num_classes=2)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
x = torch.randn(batch, 3, size, size)
y = torch.arange(batch) % 2
times = []
for i in range(steps + 1):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)  # as the engine: no zero fill, backward writes fresh gradients
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    torch.nn.functional.cross_entropy(logits.float(), y).backward()
    opt.step()
    if i > 0:
        times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"model": name, "median_s": round(times[len(times) // 2], 4)}))
