#!/bin/sh
# make-busybox-image.sh OUT_DIR
# Builds the embedded default image as an OCI image layout (image-spec image-layout.md) from
# Debian's busybox-static: one gzip layer (busybox + applet symlinks, /etc/passwd, /etc/group),
# config Cmd ["sh"], linux/amd64, index.json annotated ref.name=latest. Reproducible: fixed
# mtimes, owners and gzip header, so the image id only changes when busybox does.
set -eu
out=$1
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "make-busybox-image: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
case "$(uname -m)" in
x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;;
esac
epoch=0
created=1970-01-01T00:00:00Z

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
root="$tmp/rootfs"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/root" "$root/tmp" \
         "$root/proc" "$root/sys" "$root/dev" "$root/var"
cp "$busybox" "$root/bin/busybox"
# What `busybox --install -s` does, without needing /proc/self/exe to be busybox.
for applet in $("$busybox" --list-full); do
        [ "$applet" = bin/busybox ] && continue
        ln -sf /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

blobs="$tmp/layout/blobs/sha256"
mkdir -p "$blobs"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$epoch --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$root" -cf "$tmp/layer.tar" .
diff_id=$(sha256sum < "$tmp/layer.tar" | cut -d' ' -f1)
gzip -n -9 < "$tmp/layer.tar" > "$tmp/layer.tar.gz"
layer=$(sha256sum < "$tmp/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$tmp/layer.tar.gz")
mv "$tmp/layer.tar.gz" "$blobs/$layer"

printf '{"created":"%s","architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"%s","created_by":"make-busybox-image.sh (busybox-static)"}]}' \
        "$created" "$arch" "$diff_id" "$created" > "$tmp/config.json"
config=$(sha256sum < "$tmp/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$tmp/config.json")
mv "$tmp/config.json" "$blobs/$config"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$config" "$config_size" "$layer" "$layer_size" > "$tmp/manifest.json"
manifest=$(sha256sum < "$tmp/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$tmp/manifest.json")
mv "$tmp/manifest.json" "$blobs/$manifest"

printf '{"imageLayoutVersion":"1.0.0"}' > "$tmp/layout/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
        "$manifest" "$manifest_size" "$arch" > "$tmp/layout/index.json"

rm -rf "$out"
mv "$tmp/layout" "$out"
