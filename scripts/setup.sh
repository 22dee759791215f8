#!/usr/bin/env bash
# Installs everything gst-bargein needs to build, test and run its demo on a
# Debian/Ubuntu machine. Idempotent: a second run only checks and returns.
#
# Everything that is not a system package goes into a cache outside the
# repository (default ~/.cache/gst-bargein, override with BARGEIN_CACHE):
#   venv/      meson from PyPI (Debian 12's meson 1.0 cannot build WebRTC)
#   abseil/    abseil >= 20240722 (WebRTC AEC3 needs it; bookworm has 20220623)
#   models/    Silero VAD v6 (openvino_16k ONNX export) from the PyPI wheel
#   target/    cargo's build directory, shared by every clone (./target links here)
# and writes $BARGEIN_CACHE/env.sh, which the other scripts source.
#
# Other scripts run it, then source "$BARGEIN_CACHE/env.sh".
set -euo pipefail

BARGEIN_CACHE=${BARGEIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-bargein}
export BARGEIN_CACHE
mkdir -p "$BARGEIN_CACHE"
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ABSEIL_MIN=20240722
SILERO_WHEEL_VERSION=6.2.3
MESON_MIN=1.3.0

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
}

# Debian packages: build tools, GStreamer 1.22 with the plugins the tests and
# pipelines use, espeak-ng/sox for generated speech, PyGObject for the Python
# example, dpkg-dev for `apt-get source abseil`.
DEB_PACKAGES=(
    build-essential pkg-config cmake ninja-build libclang-dev clang
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-tools
    espeak-ng sox
    python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 python3-venv
    dpkg-dev unzip fonts-dejavu-core
)

install_debian_packages() {
    local missing=()
    for p in "${DEB_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        apt_update_once
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

check_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        log "cargo not found: install a Rust toolchain >= 1.92 (rustup) first"
        exit 1
    fi
}

version_ge() { # $1 >= $2 (dotted versions)
    [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

# meson: the webrtc-audio-processing-sys build script calls `meson setup
# --reconfigure` on a fresh directory, which meson < 1.1 rejects.
ensure_meson() {
    local venv="$BARGEIN_CACHE/venv"
    if [ -x "$venv/bin/meson" ]; then
        MESON_BIN_DIR="$venv/bin"
        return
    fi
    if command -v meson >/dev/null 2>&1 && version_ge "$(meson --version)" "$MESON_MIN"; then
        MESON_BIN_DIR=""
        return
    fi
    log "installing meson >= $MESON_MIN from PyPI into $venv"
    # /usr/bin/python3 is Debian's; any python3 with venv works.
    local py
    py=$(command -v python3)
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q "meson>=$MESON_MIN"
    MESON_BIN_DIR="$venv/bin"
}

# abseil: use the system one when new enough, else build trixie's source once.
ensure_abseil() {
    local prefix="$BARGEIN_CACHE/abseil"
    # A caller that already sourced env.sh finds our own build through
    # PKG_CONFIG_PATH: that is not a system abseil, and env.sh must keep
    # pointing at it.
    local found
    found=$(pkg-config --variable=pcfiledir absl_base 2>/dev/null || true)
    if pkg-config --atleast-version="$ABSEIL_MIN" absl_base 2>/dev/null \
        && [ "${found#"$prefix"}" = "$found" ]; then
        ABSEIL_PKG_CONFIG=""
        return
    fi
    local pcdir
    pcdir=$(find "$prefix" -name absl_base.pc -printf '%h\n' 2>/dev/null | head -n1 || true)
    if [ -n "$pcdir" ] && PKG_CONFIG_PATH="$pcdir" pkg-config --atleast-version="$ABSEIL_MIN" absl_base; then
        ABSEIL_PKG_CONFIG="$pcdir"
        return
    fi

    log "system abseil is older than $ABSEIL_MIN: building Debian trixie's abseil into $prefix (about 2 minutes)"
    local mirror
    mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | grep -oE 'https?://[^ ]+' | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    local src_list=/etc/apt/sources.list.d/gst-bargein-trixie-src.sources
    if [ ! -f "$src_list" ]; then
        local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
        {
            echo "Types: deb-src"
            echo "URIs: $mirror"
            echo "Suites: trixie"
            echo "Components: main"
            [ -f "$keyring" ] && echo "Signed-By: $keyring"
        } | as_root tee "$src_list" >/dev/null
        apt_updated=0
    fi
    apt_update_once
    local work="$BARGEIN_CACHE/abseil-src"
    rm -rf "$work" && mkdir -p "$work"
    (cd "$work" && apt-get source -qq "abseil/trixie" >/dev/null 2>&1 || apt-get source -qq abseil/trixie)
    local srcdir
    srcdir=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'abseil-*' | head -n1)
    if [ -z "$srcdir" ]; then
        log "could not fetch abseil source from trixie"
        exit 1
    fi
    cmake -S "$srcdir" -B "$work/build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DCMAKE_INSTALL_LIBDIR=lib \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DCMAKE_CXX_STANDARD=17 \
        -DABSL_PROPAGATE_CXX_STD=ON \
        -DABSL_BUILD_TESTING=OFF \
        -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$work/build" >/dev/null
    cmake --install "$work/build" >/dev/null
    rm -rf "$work"
    ABSEIL_PKG_CONFIG="$prefix/lib/pkgconfig"
}

# Silero VAD v6: the openvino_16k export has fixed input shapes that tract can
# analyse (the default export's `If` nodes cannot be). Weights are not committed.
ensure_silero_model() {
    local dest="$BARGEIN_CACHE/models/silero_vad_openvino_16k.onnx"
    if [ -s "$dest" ]; then
        SILERO_MODEL="$dest"
        return
    fi
    log "fetching Silero VAD model from the PyPI wheel silero-vad==$SILERO_WHEEL_VERSION"
    local dl="$BARGEIN_CACHE/dl"
    mkdir -p "$dl" "$(dirname "$dest")"
    local pip_py=python3
    [ -x "$BARGEIN_CACHE/venv/bin/python3" ] && pip_py="$BARGEIN_CACHE/venv/bin/python3"
    "$pip_py" -m pip download -q --no-deps -d "$dl" "silero-vad==$SILERO_WHEEL_VERSION"
    unzip -o -q -j "$dl"/silero_vad-"$SILERO_WHEEL_VERSION"-*.whl \
        'silero_vad/data/silero_vad_openvino_16k.onnx' -d "$(dirname "$dest")"
    SILERO_MODEL="$dest"
}

# Real recordings for tests and the demo, unpacked (not installed) from
# Debian packages: music on hold (the classic false trigger) and IVR prompts.
ensure_audio_fixtures() {
    local dir="$BARGEIN_CACHE/audio"
    if [ -f "$dir/.complete" ]; then
        return
    fi
    log "fetching music on hold and IVR prompts (Debian asterisk sound packages)"
    apt_update_once
    local dl="$BARGEIN_CACHE/dl/deb"
    rm -rf "$dl" && mkdir -p "$dl" "$dir"
    (cd "$dl" && apt-get download -qq asterisk-moh-opsound-wav asterisk-core-sounds-en-wav >/dev/null)
    for deb in "$dl"/*.deb; do
        dpkg -x "$deb" "$dl/root"
    done
    rm -rf "$dir/moh" "$dir/prompts"
    mkdir -p "$dir/moh" "$dir/prompts"
    find "$dl/root" -path '*moh*' -name '*.wav' -exec cp {} "$dir/moh/" \;
    cp "$dl/root"/usr/share/asterisk/sounds/en_US_f_Allison/*.wav "$dir/prompts/" 2>/dev/null || true
    cp -r "$dl/root"/usr/share/asterisk/sounds/en_US_f_Allison/digits "$dir/prompts/" 2>/dev/null || true
    rm -rf "$dl"
    touch "$dir/.complete"
}

# cargo's target directory lives in the cache so that fresh clones (CI) reuse
# the dependency builds (WebRTC and tract take minutes on two cores).
ensure_target_link() {
    mkdir -p "$BARGEIN_CACHE/target"
    if [ ! -e "$repo_root/target" ] && [ ! -L "$repo_root/target" ]; then
        ln -s "$BARGEIN_CACHE/target" "$repo_root/target"
    fi
}

write_env() {
    local env="$BARGEIN_CACHE/env.sh"
    {
        echo "# written by scripts/setup.sh"
        echo "export BARGEIN_CACHE='$BARGEIN_CACHE'"
        # Sourcing twice must not change the environment: cargo reruns the
        # WebRTC build script (minutes) when PKG_CONFIG_PATH changes.
        [ -n "${MESON_BIN_DIR:-}" ] &&
            echo "case \":\$PATH:\" in *':$MESON_BIN_DIR:'*) ;; *) export PATH='$MESON_BIN_DIR':\"\$PATH\" ;; esac"
        [ -n "${ABSEIL_PKG_CONFIG:-}" ] &&
            echo "case \":\${PKG_CONFIG_PATH:-}:\" in *':$ABSEIL_PKG_CONFIG:'*) ;; *) export PKG_CONFIG_PATH='$ABSEIL_PKG_CONFIG'\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH} ;; esac"
        echo "export BARGEIN_SILERO_MODEL='$SILERO_MODEL'"
        echo "export BARGEIN_AUDIO='$BARGEIN_CACHE/audio'"
    } >"$env.tmp"
    mv "$env.tmp" "$env"
}

install_debian_packages
check_rust
ensure_meson
ensure_abseil
ensure_silero_model
ensure_audio_fixtures
ensure_target_link
write_env
# shellcheck disable=SC1091
. "$BARGEIN_CACHE/env.sh"
log "ready (cache: $BARGEIN_CACHE)"
