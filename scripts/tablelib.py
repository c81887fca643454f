"""What the paper-table scripts (tables.py, pim_tables.py, roga_tables.py, prle_tables.py) share: reading a metric
from a `metrics` CSV, a checkpoint's recorded init, number formatting, and writing a table as Markdown and CSV."""
import csv, json, os, struct

# Columns of a `metrics --csv` row: dataset, level, n, real, fake, auc, ap, eer, acc.
AUC, ACC = 5, 8


def metric(path, group, level="video", column=AUC):
    """A metric of a group at a level from a metrics CSV, as a fraction; None when the file or row is missing."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for row in csv.reader(f):
            if row and not row[0].startswith("#") and row[0] == group and row[1] == level and row[column]:
                return float(row[column])
    return None


def init_of(out, model):
    """The "init" a model's best checkpoint records ("pretrained:<file>" or "random"), or "?"."""
    try:
        with open(os.path.join(out, "models", model, "best.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            return json.loads(f.read(n)).get("__metadata__", {}).get("init", "?")
    except (OSError, ValueError, struct.error):
        return "?"


def fmt(v, scale=1, digits=2):
    return "not provided" if v is None else f"{v * scale:.{digits}f}"


def write(out, name, lines, rows):
    """Prints the table and writes OUT/NAME.md and OUT/NAME.csv."""
    os.makedirs(out, exist_ok=True)
    md = "\n".join(lines) + "\n"
    print(md)
    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        csv.writer(f).writerows(rows)
