#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sourced by the podman tests (test_image.sh, test_fresh.sh): can podman
# run a container here, and a local Debian 12 base image, made with
# debootstrap when it is missing (no registry is needed). Calls skip()
# (exit 0 with "SKIP: why") where podman cannot run.
#
# The caller sets: work (a scratch directory), base (the image name),
# mirror (the Debian mirror for debootstrap), and defines skip and say.
# Sets: runtime, run_flags, pm().

[ "$(id -u)" = 0 ] || skip "not root (this test uses rootful podman)"
command -v podman >/dev/null || skip "podman is not installed"
# crun, podman's default, fails on hosts with cgroups in hybrid mode.
if command -v runc >/dev/null; then
    runtime=runc
else
    skip "runc is not installed (apt-get install runc)"
fi
# pm ARGS: podman with a time limit; every step has one, so the whole test
# is bounded. Containers get the host's resource limits (--ulimit host),
# not podman's defaults, which a sandbox may not be allowed to set.
pm() { timeout --foreground "${PM_TIMEOUT:-120}" podman --runtime "$runtime" "$@"; }
run_flags=(--ulimit host)
pm info >"$work/info.log" 2>&1 \
    || skip "podman does not work here: $(grep -v 'level=' "$work/info.log" | tail -n 1)"

if ! pm image exists "$base"; then
    if [ "$base" != localhost/debian:bookworm-slim ]; then
        say "pulling $base"
        PM_TIMEOUT=300 pm pull -q "$base" >"$work/pull.log" 2>&1 \
            || skip "cannot pull $base: $(tail -n 1 "$work/pull.log")"
    else
        command -v debootstrap >/dev/null \
            || skip "no $base image and debootstrap is not installed"
        say "making $base with debootstrap (about 30 s)"
        rootfs=$(mktemp -d /var/tmp/modbus-mux-rootfs.XXXXXX)
        if ! timeout --foreground 600 debootstrap --variant=minbase bookworm "$rootfs" \
                "$mirror" >"$work/debootstrap.log" 2>&1; then
            rm -rf "$rootfs"
            skip "debootstrap failed: $(tail -n 1 "$work/debootstrap.log")"
        fi
        # Make it look like the official debian:bookworm-slim: the same
        # apt sources, no docs, man pages or locales, no apt caches.
        cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
        cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
        find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
        find "$rootfs/usr/share/doc" -type l -delete
        rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
            "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 \
            ! -name locale.alias -exec rm -rf {} +
        tar -C "$rootfs" -c . | pm import -q - "$base" >"$work/import.log" 2>&1 \
            || { rm -rf "$rootfs"; skip "podman import failed: $(tail -n 1 "$work/import.log")"; }
        rm -rf "$rootfs"
    fi
fi
if ! pm run --rm "${run_flags[@]}" --network=none "$base" true \
        >"$work/smoke.log" 2>&1; then
    # Sandboxes that cannot raise resource limits: podman must not set any
    # by default. A containers.conf of our own, for this test only.
    if grep -q 'error setting rlimit' "$work/smoke.log" \
            && [ -z "${CONTAINERS_CONF:-}" ]; then
        printf '[containers]\ndefault_ulimits = []\n' >"$work/containers.conf"
        export CONTAINERS_CONF=$work/containers.conf
        echo "podman cannot set resource limits here: using default_ulimits = []"
    fi
    pm run --rm "${run_flags[@]}" --network=none "$base" true \
        >"$work/smoke.log" 2>&1 \
        || skip "podman cannot run a container here: $(grep -v 'level=' "$work/smoke.log" | tail -n 1)"
fi
