#!/usr/bin/env python3
"""Merges the outputs of `--shard K/N` runs back into the order of their input (docs/scale-out.md).

    merge_shards.py --key video INPUT.ndjson SHARD_0.ndjson ... SHARD_N-1.ndjson > merged.ndjson

INPUT holds the records the shards were made from (one per line, in order); each output line is grouped by its --key
field and the groups are written in the order their key first appears in INPUT, so the result has the lines of an
unsharded run in its order (a tool writes a record's outputs in input order). Lines whose key is not in INPUT (or
absent) follow at the end in shard order. A key found in two shard files is an error (shards must be disjoint).
"""
import argparse
import json
import sys


def key_of(line, key, where):
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        sys.exit(f"merge_shards.py: error: {where}: not a JSON record ({e.msg})")
    v = rec.get(key) if isinstance(rec, dict) else None
    return None if v is None else (v if isinstance(v, str) else json.dumps(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--key", required=True, help="record field that identifies an input (e.g. video)")
    ap.add_argument("input", help="the records the shards were made from")
    ap.add_argument("shards", nargs="+", help="the shards' outputs")
    a = ap.parse_args()
    order = []
    try:
        with open(a.input, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    k = key_of(line, a.key, f"{a.input}:{n}")
                    if k is not None:
                        order.append(k)
        groups, owner, rest = {}, {}, []
        for path in a.shards:
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    line = line.rstrip("\n") + "\n"
                    k = key_of(line, a.key, f"{path}:{n}")
                    if k is None:
                        rest.append(line)
                        continue
                    if owner.setdefault(k, path) != path:
                        sys.exit(f"merge_shards.py: error: {path}:{n}: {a.key} {k} is also in {owner[k]} (shards overlap)")
                    groups.setdefault(k, []).append(line)
    except OSError as e:
        sys.exit(f"merge_shards.py: error: {e.filename}: {e.strerror}")
    out = sys.stdout
    for k in order:
        for line in groups.pop(k, []):
            out.write(line)
    for path in a.shards:
        for k in [k for k, p in owner.items() if p == path and k in groups]:
            for line in groups.pop(k):
                out.write(line)
    for line in rest:
        out.write(line)


if __name__ == "__main__":
    main()
