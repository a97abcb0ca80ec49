#!/usr/bin/env bash
# Copy the browser files of the npm packages into the Python package's static
# directory (gitignored; served as /static/vendor/...). Run after `npm ci`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

src=node_modules/htmx.org
dest=heritage/web/static/vendor

[ -f "$src/dist/htmx.min.js" ] || {
    echo "copy-assets.sh: $src/dist/htmx.min.js missing: run 'npm ci' first" >&2
    exit 1
}
mkdir -p "$dest"
cp "$src/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$src/LICENSE" "$dest/htmx.LICENSE"
version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$src/package.json" | head -n 1)"
echo "==> copied htmx ${version} to $dest"

swagger=node_modules/swagger-ui-dist
[ -f "$swagger/swagger-ui-bundle.js" ] || {
    echo "copy-assets.sh: $swagger missing: run 'npm ci' first" >&2
    exit 1
}
mkdir -p "$dest/swagger-ui"
cp "$swagger/swagger-ui-bundle.js" "$swagger/swagger-ui.css" "$dest/swagger-ui/"
cp "$swagger/LICENSE" "$dest/swagger-ui/LICENSE"
echo "==> copied swagger-ui-dist to $dest/swagger-ui"

tus=node_modules/tus-js-client
[ -f "$tus/dist/tus.min.js" ] || {
    echo "copy-assets.sh: $tus missing: run 'npm ci' first" >&2
    exit 1
}
mkdir -p "$dest/tus-js-client"
cp "$tus/dist/tus.min.js" "$dest/tus-js-client/tus.min.js"
cp "$tus/LICENSE" "$dest/tus-js-client/LICENSE"
echo "==> copied tus-js-client to $dest/tus-js-client"

leaflet=node_modules/leaflet
[ -f "$leaflet/dist/leaflet.js" ] || {
    echo "copy-assets.sh: $leaflet missing: run 'npm ci' first" >&2
    exit 1
}
mkdir -p "$dest/leaflet/images"
cp "$leaflet/dist/leaflet.js" "$leaflet/dist/leaflet.css" "$dest/leaflet/"
cp "$leaflet/dist/images/"*.png "$dest/leaflet/images/"
cp "$leaflet/LICENSE" "$dest/leaflet/LICENSE"
echo "==> copied leaflet to $dest/leaflet"

cluster=node_modules/leaflet.markercluster
[ -f "$cluster/dist/leaflet.markercluster.js" ] || {
    echo "copy-assets.sh: $cluster missing: run 'npm ci' first" >&2
    exit 1
}
mkdir -p "$dest/leaflet.markercluster"
cp "$cluster/dist/leaflet.markercluster.js" "$cluster/dist/MarkerCluster.css" \
    "$cluster/dist/MarkerCluster.Default.css" "$dest/leaflet.markercluster/"
cp "$cluster/MIT-LICENCE.txt" "$dest/leaflet.markercluster/LICENSE"
echo "==> copied leaflet.markercluster to $dest/leaflet.markercluster"
osd=node_modules/openseadragon/build/openseadragon
[ -f "$osd/openseadragon.min.js" ] || {
    echo "copy-assets.sh: $osd missing: run 'npm ci' first" >&2
    exit 1
}
mkdir -p "$dest/openseadragon"
cp "$osd/openseadragon.min.js" "$dest/openseadragon/openseadragon.min.js"
cp -r "$osd/images" "$dest/openseadragon/"
cp node_modules/openseadragon/LICENSE.txt "$dest/openseadragon/LICENSE.txt"
echo "==> copied openseadragon to $dest/openseadragon"
three=node_modules/three
[ -f "$three/build/three.module.js" ] || {
    echo "copy-assets.sh: $three missing: run 'npm ci' first" >&2
    exit 1
}
# The 3D viewer's modules. The examples import the bare name 'three', which only an
# import map resolves, and an inline import map would need script-src 'unsafe-inline':
# the copies name the module's path instead.
mkdir -p "$dest/three/addons/controls" "$dest/three/addons/loaders" "$dest/three/addons/utils"
cp "$three/build/three.module.js" "$three/build/three.core.js" "$dest/three/"
cp "$three/LICENSE" "$dest/three/LICENSE"
for module in controls/OrbitControls.js loaders/GLTFLoader.js loaders/DRACOLoader.js \
    utils/BufferGeometryUtils.js utils/SkeletonUtils.js; do
    sed "s#from 'three';#from '/static/vendor/three/three.module.js';#" \
        "$three/examples/jsm/$module" >"$dest/three/addons/$module"
done
# The Draco decoder the levels of detail need (KHR_draco_mesh_compression), served from
# here, never from a CDN: the glTF build, WebAssembly with its pure-JS fallback.
mkdir -p "$dest/three/draco"
cp "$three/examples/jsm/libs/draco/gltf/draco_decoder.js" \
    "$three/examples/jsm/libs/draco/gltf/draco_decoder.wasm" \
    "$three/examples/jsm/libs/draco/gltf/draco_wasm_wrapper.js" \
    "$three/examples/jsm/libs/draco/README.md" "$dest/three/draco/"
version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$three/package.json" | head -n 1)"
echo "==> copied three ${version} to $dest/three"
