#!/usr/bin/env python3
"""One record per face: a frame record with several faces (a group photo) becomes one record per face, each with
`faces` = [that face] and an "id" naming image and face, so training (which takes the largest face of a record)
uses every face. Other fields pass through; records without faces pass through unchanged. stdin -> stdout."""
import json, sys

for n, line in enumerate(sys.stdin, 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except ValueError as e:
        sys.exit(f"split_faces: stdin:{n}: not a JSON record ({e})")
    faces = r.get("faces") or []
    if len(faces) <= 1:
        print(line.rstrip("\n"))
        continue
    for k, f in enumerate(faces):
        out = dict(r, faces=[f], id=f"{r.get('image', '')}#face{k}")
        print(json.dumps(out, separators=(",", ":")))   # compact, like the tools write
