#!/usr/bin/env python3
"""Binary seed inputs of the fuzz targets, made at fuzz time rather than kept in git: .npy landmark arrays (the
datasets target), safetensors files and PyTorch weight files in the legacy, zip and wrapped layouts (the pth target).
usage: make_seeds.py OUT_DIR   (the pth seeds need PyTorch: run it with the parity venv's python)"""
import os, struct, sys

out = sys.argv[1]


def npy(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "")
    header = header.ljust(128 - 10 - 1) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%df" % len(values), *values))


os.makedirs(os.path.join(out, "datasets"), exist_ok=True)
npy(os.path.join(out, "datasets", "landmarks.npy"), (68, 2), [float(i % 97) for i in range(136)])
npy(os.path.join(out, "datasets", "two.npy"), (2, 10, 2), [i * 0.5 for i in range(40)])

def safetensors(path, tensors):
    import json
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


os.makedirs(os.path.join(out, "safetensors"), exist_ok=True)
safetensors(os.path.join(out, "safetensors", "scalar.safetensors"), {"s": ("F32", [], struct.pack("<f", 1.5))})
safetensors(os.path.join(out, "safetensors", "two.safetensors"),
            {"a": ("F32", [2, 3], struct.pack("<6f", *range(6))), "b": ("I64", [2], struct.pack("<2q", 7, -1))})

import torch  # noqa: E402

os.makedirs(os.path.join(out, "pth"), exist_ok=True)
torch.manual_seed(0)
state = {"conv.weight": torch.randn(2, 1, 3, 3), "conv.bias": torch.zeros(2), "bn.num_batches_tracked": torch.tensor(3)}
torch.save(state, os.path.join(out, "pth", "legacy.pth"), _use_new_zipfile_serialization=False)
torch.save(state, os.path.join(out, "pth", "zip.pth"))
view = torch.arange(12, dtype=torch.float32).reshape(3, 4)
torch.save({"state_dict": {"module.fc.weight": view.t(), "module.fc.half": torch.ones(2, dtype=torch.float16)}, "epoch": 3},
           os.path.join(out, "pth", "wrapped.pth"))
