#!/bin/sh
# Builds the Dockerfile with Debian's buildah where no image registry is reachable (make image):
#   1. two base images made from Debian packages (debootstrap): BASE with Python 3.11 and venv,
#      BUILDER with a C compiler and Python's headers besides (made once, kept in the store);
#   2. the Dockerfile's builder stage (cobalt-cds-builder:dev, its /wheels is the wheelhouse) and
#      the whole image (cobalt-cds:dev), on those bases.
# Storage: vfs under $IMAGE_STORE; RUN steps in a chroot (buildah's OCI isolation needs rlimits
# that these machines refuse). Debian mirror: $DEBIAN_MIRROR.
set -eu
: "${IMAGE_STORE:?set IMAGE_STORE to a directory for image storage}"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE=localhost/cobalt-cds-base:$SUITE
BUILDER=localhost/cobalt-cds-build-base:$SUITE
buildah() { command buildah --root "$IMAGE_STORE/storage" --runroot "$IMAGE_STORE/run" --storage-driver vfs "$@"; }

# debootstrap's root file system with $2 (packages) as image $1, running as root with Python's usual environment.
debian_image() {
    rootfs=$IMAGE_STORE/rootfs
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include="$2" "$SUITE" "$rootfs" "$MIRROR"
    rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/*
    tar -C "$rootfs" -cf "$IMAGE_STORE/rootfs.tar" .
    container=$(buildah from scratch)
    buildah add "$container" "$IMAGE_STORE/rootfs.tar" /
    buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd python3 "$container"
    buildah commit --rm "$container" "$1"
    rm -rf "$rootfs" "$IMAGE_STORE/rootfs.tar"
}

# The builder's pip trusts what this machine trusts (where a TLS-inspecting proxy stands between it
# and the package index, its CA is there); the runtime base keeps Debian's certificates only.
trust_this_machine() {
    container=$(buildah from "$1")
    buildah copy "$container" /etc/ssl/certs/ca-certificates.crt /usr/local/share/build-host-ca-bundle.crt
    buildah config --env PIP_CERT=/usr/local/share/build-host-ca-bundle.crt "$container"
    buildah commit --rm "$container" "$1"
}

mkdir -p "$IMAGE_STORE"
buildah inspect --type image "$BASE" >/dev/null 2>&1 || debian_image "$BASE" python3,python3-venv,ca-certificates,passwd
buildah inspect --type image "$BUILDER" >/dev/null 2>&1 \
    || { debian_image "$BUILDER" python3,python3-venv,ca-certificates,passwd,gcc,libc6-dev,python3-dev \
         && trust_this_machine "$BUILDER"; }

cd "$(dirname "$0")/../.."
bud() {
    buildah bud --isolation chroot --layers --format docker \
        --build-arg BASE_IMAGE="$BASE" --build-arg BUILDER_IMAGE="$BUILDER" "$@" .
}
bud --target builder --tag localhost/cobalt-cds-builder:dev
bud --tag localhost/cobalt-cds:dev
buildah images
