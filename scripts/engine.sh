#!/usr/bin/env bash
# Prepares the engine a3grpc builds with: the crates.io releases of grpcio-sys and grpcio named
# in engine/crates, plus a3grpc's own patches from engine/patches/<crate>/, in a folder outside
# the clone; engine/<crate> in the clone links to it, and the workspace's [patch.crates-io]
# points there. Sourced by setup.sh; safe to run on its own.
#
# Usage: engine.sh [CRATE_DIR...]: also links CRATE_DIR/engine/ for a crate of yours that
# depends on a3grpc (README, "Your own service").
#
# Why outside the clone, behind links: grpcio-sys builds the C core with cmake, whose cache
# remembers the source folder's real path, and cargo tells builds apart by the path a
# workspace names a crate by, relative to the workspace. One real folder per machine, named
# engine/<crate> by every workspace, lets clones and users' crates share one build of the core
# through CARGO_TARGET_DIR.
#
# Why files are synced rather than replaced: cargo and cmake decide what to rebuild from
# modification times. A file whose content changes (a patch added, edited or dropped) is
# rewritten and so gets a new time; every other file keeps its old one, so only what a patch
# touches is compiled again, and nothing stale is left behind.
#
# A3GRPC_ENGINE_HOME moves the shared folder (default ~/.cache/a3grpc/engine).
# A3GRPC_ENGINE_WITHOUT="grpcio-sys/0002 grpcio/0003" leaves out the patches so named (a
# prefix is enough), to measure the engine without them; run again without it to put them back.
set -euo pipefail

engine_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine_home="${A3GRPC_ENGINE_HOME:-$HOME/.cache/a3grpc/engine}"

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

# The version Cargo.lock records must be the one the patches were written for.
engine_check_lock() {
  local name="$1" version="$2" locked
  locked="$(awk -v n="$name" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$engine_repo/Cargo.lock")"
  if [ -n "$locked" ] && [ "$locked" != "$version" ]; then
    engine_say "Cargo.lock has $name $locked, engine/crates $version: the patches in engine/patches/$name are for $version"
    return 1
  fi
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
  local name="$1" version="$2" sha="$3" carried="$4"
  local dest="$engine_home/$name-$version"
  local patches=() p
  while IFS= read -r p; do [ -z "$p" ] || patches+=("$p"); done <<<"$(engine_patches "$name")"
  engine_check_lock "$name" "$version"

  local stamp
  stamp="$( { echo "$name $version $sha"; echo "$carried"; cat "${BASH_SOURCE[0]}"; [ "${#patches[@]}" = 0 ] || cat "${patches[@]}"; } | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$dest/.a3grpc-stamp" 2>/dev/null)" != "$stamp" ]; then
    local crate stage
    crate="$(engine_crate_file "$name" "$version" "$sha")"
    mkdir -p "$engine_home"
    stage="$(mktemp -d "$engine_home/.stage.XXXXXX")"
    tar -xzf "$crate" -C "$stage"
    for p in "${patches[@]}"; do
      if ! patch -d "$stage/$name-$version" -p1 --quiet --forward --no-backup-if-mismatch <"$p" >"$stage/patch.log" 2>&1; then
        engine_say "engine/patches/$name/$(basename "$p") does not apply to $name $version:"
        cat "$stage/patch.log" >&2
        rm -rf "$stage"
        return 1
      fi
    done
    # What the whole engine carries, for grpcio-sys's build to tell a3grpc (engine/README.md).
    printf '%s' "$carried" >"$stage/$name-$version/A3GRPC_PATCHES"
    if [ -d "$dest" ]; then
      engine_sync "$stage/$name-$version" "$dest"
    else
      mv "$stage/$name-$version" "$dest"
    fi
    rm -rf "$stage"
    printf '%s' "$stamp" >"$dest/.a3grpc-stamp"
    engine_say "engine: $name $version with ${#patches[@]} a3grpc patch(es) in $dest"
  fi
}

# Links DIR/engine/<crate> to the prepared crate, so a workspace at DIR names it by the same
# relative path as a3grpc's own does; cargo then gives it the same build (one C core for all).
engine_link() {
  local dir="$1" name="$2" version="$3" link="$1/engine/$2"
  local dest="$engine_home/$name-$version"
  if [ "$(readlink "$link" 2>/dev/null)" != "$dest" ]; then
    mkdir -p "$dir/engine"
    rm -rf "$link"
    ln -s "$dest" "$link"
  fi
}

# Makes $2 hold exactly what $1 holds, rewriting only the files whose content differs.
engine_sync() {
  local from="$1" to="$2" line a b differences status=0
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
carried=""
while read -r name version sha; do
  [ -n "$name" ] || continue
  while IFS= read -r p; do
    [ -z "$p" ] || carried+="$name/$(basename "$p" .patch)"$'\n'
  done <<<"$(engine_patches "$name")"
done <<<"$crates"
while read -r name version sha; do
  [ -n "$name" ] || continue
  engine_prepare "$name" "$version" "$sha" "$carried"
  for dir in "$engine_repo" "$@"; do
    engine_link "$dir" "$name" "$version"
  done
done <<<"$crates"
