#!/usr/bin/env python3
# Compares the tensors of two safetensors checkpoints byte for byte: compare_checkpoints.py A B
import json, struct, sys, hashlib
def tensors(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); d = b[8+n:]
    return {k: d[v['data_offsets'][0]:v['data_offsets'][1]] for k, v in h.items() if k != '__metadata__'}, h.get('__metadata__', {})
a, ma = tensors(sys.argv[1]); b, mb = tensors(sys.argv[2])
keys = sorted(set(a) | set(b))
diff = [k for k in keys if a.get(k) != b.get(k)]
print(f"{len(keys)} tensors, {len(diff)} differ", diff[:5])
