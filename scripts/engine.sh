#!/usr/bin/env bash
# Prepares a3grpc's engine crates in engine/<crate>/: the crates.io releases named in
# engine/crates, grpcio-sys's bundled gRPC core replaced by the current one from PyPI's grpcio
# source distribution (engine/core), plus a3grpc's own patches from engine/patches/<crate>/.
# Only each crate's
# manifest (and grpcio-sys's build.rs and recipe.rs, grpcio's rustfmt.toml) are a3grpc's own,
# committed files; everything else there is written by this script and ignored by git.
# Sourced by setup.sh; safe to run on its own.
#
# Why files are synced rather than replaced: cargo decides what to rebuild from modification
# times. A file whose content changes (a patch added, edited or dropped) is rewritten and so
# gets a new time; every other file keeps its old one, and nothing stale is left behind.
#
# A3GRPC_ENGINE_WITHOUT="grpcio-sys/0002 grpcio/0003" leaves out the patches so named (a
# prefix is enough), to measure the engine without them; run again without it to put them back.
set -euo pipefail

engine_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

engine_say() { printf 'a3grpc: %s\n' "$*"; }

# The .crate file of a release, fetched by cargo into its registry cache (checked against the
# sha256 in engine/crates, so a changed download is refused).
engine_crate_file() {
  local name="$1" version="$2" sha="$3" file
  file="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n 1 || true)"
  if [ -z "$file" ]; then
    local probe
    probe="$(mktemp -d)"
    mkdir -p "$probe/src"
    : >"$probe/src/lib.rs"
    printf '[package]\nname = "a3grpc-engine-fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n[workspace]\n' \
      "$name" "$version" >"$probe/Cargo.toml"
    if ! cargo fetch --quiet --manifest-path "$probe/Cargo.toml" >"$probe/log" 2>&1; then
      engine_say "cargo could not download $name $version from crates.io:"
      tail -n 5 "$probe/log" >&2
      rm -rf "$probe"
      return 1
    fi
    rm -rf "$probe"
    file="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" | head -n 1)"
  fi
  if [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sha" ]; then
    engine_say "$file does not have the sha256 engine/crates names ($sha); delete it and run this again"
    return 1
  fi
  printf '%s\n' "$file"
}

# The grpcio source distribution engine/core names, downloaded once into the user's cache
# (curl, or Python's urllib) and checked against its sha256.
engine_core_file() {
  local version="$1" sha="$2" url="$3"
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/a3grpc/downloads"
  local file="$dir/grpcio-$version.tar.gz"
  if [ ! -f "$file" ] || [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sha" ]; then
    mkdir -p "$dir"
    engine_say "downloading the gRPC C core $version (grpcio's source distribution, 14 MB) from PyPI" >&2
    local fetched=1
    if command -v curl >/dev/null 2>&1; then
      curl -sSfL --retry 3 -o "$file.part" "$url" || fetched=0
    elif command -v python3 >/dev/null 2>&1; then
      python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$file.part" || fetched=0
    else
      engine_say "neither curl nor python3 is installed to download $url" >&2
      return 1
    fi
    if [ "$fetched" = 0 ]; then
      engine_say "could not download $url" >&2
      rm -f "$file.part"
      return 1
    fi
    if [ "$(sha256sum "$file.part" | cut -d' ' -f1)" != "$sha" ]; then
      engine_say "$url does not have the sha256 engine/core names ($sha)" >&2
      rm -f "$file.part"
      return 1
    fi
    mv "$file.part" "$file"
  fi
  printf '%s\n' "$file"
}

# Replaces grpcio-sys's bundled core in $1/grpc with the source distribution's: the files its
# own build compiles (grpc_core_dependencies.py), every header, the licence. zlib stays
# libz-sys's; the rest (Python's sources, tests, docs) is left out.
engine_core_into() {
  local crate="$1" sdist="$2" unpacked
  unpacked="$(mktemp -d "$engine_repo/engine/.stage.XXXXXX")"
  tar -xzf "$sdist" -C "$unpacked"
  local top
  top="$(ls "$unpacked")"
  rm -rf "$crate/grpc"
  mkdir -p "$crate/grpc"
  (
    cd "$unpacked/$top"
    {
      printf '%s\n' LICENSE src/python/grpcio/grpc_core_dependencies.py third_party/abseil-cpp/absl/log/initialize.cc
      sed -n "s/^ *'\([^']*\)',\$/\1/p" src/python/grpcio/grpc_core_dependencies.py
      find include src/core third_party -name '*.h' -o -name '*.inc' -o -name '*.hpp'
    } | grep -v '^third_party/zlib/' | sort -u | tar -cf - -T -
  ) | tar -xf - -C "$crate/grpc"
  rm -rf "$unpacked"
}

# The patches of crate $1 to apply, in order: all but those A3GRPC_ENGINE_WITHOUT names.
engine_patches() {
  local p skip
  for p in "$engine_repo/engine/patches/$1"/*.patch; do
    [ -e "$p" ] || continue
    for skip in ${A3GRPC_ENGINE_WITHOUT:-}; do
      case "$1/$(basename "$p")" in "$skip"*) continue 2 ;; esac
    done
    printf '%s\n' "$p"
  done
}

engine_prepare() {
  local name="$1" version="$2" sha="$3"
  local dest="$engine_repo/engine/$name"
  local patches=() p
  while IFS= read -r p; do [ -z "$p" ] || patches+=("$p"); done <<<"$(engine_patches "$name")"

  # The source's id: the release and each patch by content. grpcio-sys's build keys its cache
  # of the compiled core by it.
  local source core_line=""
  [ "$name" != grpcio-sys ] || core_line="$(grep -v '^#' "$engine_repo/engine/core")"
  source="$(echo "$name $version $sha"; [ -z "$core_line" ] || echo "core $core_line"; for p in "${patches[@]}"; do echo "$(basename "$p") $(sha256sum "$p" | cut -d' ' -f1)"; done)"
  local stamp
  stamp="$( { echo "$source"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$dest/.a3grpc-stamp" 2>/dev/null)" != "$stamp" ]; then
    local crate stage
    crate="$(engine_crate_file "$name" "$version" "$sha")"
    stage="$(mktemp -d "$engine_repo/engine/.stage.XXXXXX")"
    tar -xzf "$crate" -C "$stage"
    local from="$stage/$name-$version"
    if [ -n "$core_line" ]; then
      local core_file
      # shellcheck disable=SC2086
      core_file="$(engine_core_file $core_line)"
      engine_core_into "$from" "$core_file"
    fi
    for p in "${patches[@]}"; do
      if ! patch -d "$from" -p1 --quiet --forward --no-backup-if-mismatch <"$p" >"$stage/patch.log" 2>&1; then
        engine_say "engine/patches/$name/$(basename "$p") does not apply to $name $version:"
        cat "$stage/patch.log" >&2
        rm -rf "$stage"
        return 1
      fi
    done
    # a3grpc's own files (the manifests, grpcio-sys's build script, grpcio's rustfmt.toml)
    # stay as committed; the release's manifests are not used.
    rm -f "$from/Cargo.toml.orig" "$from/.cargo_vcs_info.json"
    for p in Cargo.toml build.rs recipe.rs rustfmt.toml; do
      if [ -f "$dest/$p" ]; then
        cp -p "$dest/$p" "$from/$p"
      else
        rm -f "$from/$p"
      fi
    done
    printf '%s\n' "$source" >"$from/A3GRPC_SOURCE"
    engine_sync "$from" "$dest"
    rm -rf "$stage"
    printf '%s' "$stamp" >"$dest/.a3grpc-stamp"
    engine_say "engine: $name $version${core_line:+ with the gRPC core ${core_line%% *}} and ${#patches[@]} a3grpc patch(es) in engine/$name"
  fi
}

# Makes $2 hold exactly what $1 holds, rewriting only the files whose content differs.
engine_sync() {
  local from="$1" to="$2" line a b differences status=0
  mkdir -p "$to"
  differences="$(diff -rq "$from" "$to" -x .a3grpc-stamp)" || status=$?
  # diff says 1 when the folders differ, 2 when it could not compare them.
  [ "$status" -lt 2 ] || { engine_say "could not compare $from with $to"; return 1; }
  while IFS= read -r line; do
    case "$line" in
      "Files $from/"*" differ")
        a="${line#Files }"; a="${a%% and $to/*}"
        b="$to/${a#"$from/"}"
        cat "$a" >"$b"
        ;;
      "Only in $from"*)
        a="${line#Only in }"; a="${a%%: *}/${line#*: }"
        cp -R "$a" "$to/${a#"$from/"}"
        ;;
      "Only in $to"*)
        a="${line#Only in }"; a="${a%%: *}/${line#*: }"
        rm -rf "$a"
        ;;
    esac
  done <<<"$differences"
}

crates="$(grep -v '^#' "$engine_repo/engine/crates")"
while read -r name version sha; do
  [ -n "$name" ] || continue
  engine_prepare "$name" "$version" "$sha"
done <<<"$crates"
