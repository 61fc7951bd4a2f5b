# Shared helpers for scripts/demo and scripts/test: install only what is missing.

log() { printf '\n== %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_UPDATED=0
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        if [ "$APT_UPDATED" = 0 ]; then
            $SUDO apt-get update -qq
            APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            log "installing Rust with rustup"
            ensure_apt curl ca-certificates
            curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
    rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt >/dev/null 2>&1 || true
}

ensure_cargo_tool() { # ensure_cargo_tool BINARY CRATE
    if ! command -v "$1" >/dev/null 2>&1; then
        log "installing $2 with cargo"
        cargo install --locked -q "$2"
    fi
}
