// The 3D viewer: every [data-threed-viewer] figure shows its GLB with three.js.
// Orbit and zoom, lighting presets, texture/wireframe/normals, point size for point
// clouds, a clipping plane, measuring between two picked points in the model's
// units, screenshots and full screen. State for tests: data-state on the figure
// ("loading", "ready", "failed") and window.heritageViewers. Where the browser
// offers WebXR augmented reality, "View in AR" places the model at its real size.
// The levels of detail are Draco-compressed: three.js's decoder, served from our own
// /static (WebAssembly in a worker); a browser that cannot decode gets the
// uncompressed smallest level (data-fallback-url) instead.
import * as THREE from "/static/vendor/three/three.module.js";
import { OrbitControls } from "/static/vendor/three/addons/controls/OrbitControls.js";
import { DRACOLoader } from "/static/vendor/three/addons/loaders/DRACOLoader.js";
import { GLTFLoader } from "/static/vendor/three/addons/loaders/GLTFLoader.js";

const DRACO_DECODER = "/static/vendor/three/draco/";
let dracoLoader = null; // one decoder (and its workers) for every viewer on the page

function gltfLoader() {
  if (!dracoLoader) dracoLoader = new DRACOLoader().setDecoderPath(DRACO_DECODER);
  return new GLTFLoader().setDRACOLoader(dracoLoader);
}

// metres per unit of the model's coordinates (AR shows the object at its real size)
const METRES = { m: 1, cm: 0.01, mm: 0.001, in: 0.0254, ft: 0.3048 };

const LIGHTING = {
  studio: { ambient: 0.6, lights: [[1, 1, 1, 1.6], [-1, 0.5, -1, 0.6]] },
  daylight: { ambient: 1.0, lights: [[0.3, 1, 0.2, 1.2]] },
  raking: { ambient: 0.15, lights: [[1, 0.08, 0, 2.6]] }, // low light shows tool marks, inscriptions
  flat: { ambient: 2.2, lights: [] },
};

class Viewer {
  constructor(figure) {
    this.figure = figure;
    this.canvas = figure.querySelector("canvas");
    this.status = figure.querySelector(".threed-status");
    this.measureText = figure.querySelector(".threed-measure");
    this.units = figure.dataset.units || "";
    this.kind = figure.dataset.kind;
    this.picked = [];
    this.measuring = false;
    this.lastDistance = null;
    this.renderer = new THREE.WebGLRenderer({
      canvas: this.canvas,
      antialias: true,
      preserveDrawingBuffer: true, // screenshots read the canvas
    });
    this.renderer.localClippingEnabled = true;
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0xf3f3f3);
    this.camera = new THREE.PerspectiveCamera(45, 1, 0.01, 1000);
    this.controls = new OrbitControls(this.camera, this.canvas);
    // drawn on demand, not every frame: software WebGL and laptops on battery thank us
    this.controls.addEventListener("change", () => this.draw());
    this.lights = new THREE.Group();
    this.scene.add(this.lights);
    this.clipPlane = new THREE.Plane(new THREE.Vector3(0, -1, 0), 0);
    this.markers = new THREE.Group();
    this.scene.add(this.markers);
    this.raycaster = new THREE.Raycaster();
    new ResizeObserver(() => this.resize()).observe(this.canvas.parentElement);
    this.bindTools();
    this.resize();
    this.load(figure.dataset.modelUrl);
    this.offerAR();
  }

  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.renderer.render(this.scene, this.camera);
      this.frames = (this.frames || 0) + 1;
    });
  }

  say(text) {
    this.status.textContent = text;
  }

  resize() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    const width = Math.max(box.width, 100);
    const height = Math.max(Math.round(width * 0.66), 200);
    this.renderer.setSize(width, document.fullscreenElement ? box.height : height, false);
    this.camera.aspect = width / (document.fullscreenElement ? box.height : height);
    this.camera.updateProjectionMatrix();
    this.draw();
  }

  load(url) {
    this.say(this.figure.dataset.textLoading);
    gltfLoader().load(
      url,
      (gltf) => {
        this.figure.dataset.shownUrl = url; // which file is drawn, for the tests
        this.show(gltf.scene);
      },
      undefined,
      (error) => {
        const fallback = this.figure.dataset.fallbackUrl;
        if (fallback && url !== fallback && !this.model) {
          console.warn("compressed model not shown, loading the uncompressed one:", error);
          this.load(fallback);
          return;
        }
        this.figure.dataset.state = "failed";
        this.say(`${this.figure.dataset.textFailed} ${error.message || error}`);
      },
    );
  }

  show(model) {
    if (this.model) this.scene.remove(this.model);
    this.model = model;
    this.materials = [];
    model.traverse((node) => {
      if (!node.material) return;
      const original = node.material;
      if (node.isPoints) {
        original.size = 2;
        original.sizeAttenuation = false;
      }
      original.clippingPlanes = [this.clipPlane];
      original.side = THREE.DoubleSide; // scans are often open surfaces
      this.materials.push({ node, original, map: original.map || null });
    });
    this.scene.add(model);
    this.frame();
    this.setLighting(this.figure.querySelector('[data-tool="lighting"]').value);
    this.figure.dataset.state = "ready";
    this.say("");
    const detail = this.figure.querySelector('[data-tool="detail"]');
    if (detail && this.figure.dataset.detailUrl && !this.detailShown) detail.hidden = false;
  }

  frame() {
    const box = new THREE.Box3().setFromObject(this.model);
    const sphere = box.getBoundingSphere(new THREE.Sphere());
    this.box = box;
    this.radius = sphere.radius || 1;
    const distance = this.radius / Math.sin(THREE.MathUtils.degToRad(this.camera.fov / 2)) * 1.1;
    const direction = new THREE.Vector3(0.5, 0.35, 1).normalize();
    this.camera.position.copy(sphere.center).addScaledVector(direction, distance);
    this.camera.near = distance / 1000;
    this.camera.far = distance * 100;
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(sphere.center);
    this.controls.update();
    this.raycaster.params.Points.threshold = this.radius / 200;
    this.setClip(100);
  }

  setLighting(name) {
    const preset = LIGHTING[name] || LIGHTING.studio;
    this.lights.clear();
    this.lights.add(new THREE.AmbientLight(0xffffff, preset.ambient));
    for (const [x, y, z, intensity] of preset.lights) {
      const light = new THREE.DirectionalLight(0xffffff, intensity);
      light.position.set(x, y, z).multiplyScalar(this.radius || 1);
      this.lights.add(light);
    }
    this.draw();
  }

  setMaterials(mode) {
    for (const item of this.materials || []) {
      if (item.node.isPoints) continue;
      if (mode.normals) {
        item.node.material = new THREE.MeshNormalMaterial({
          wireframe: mode.wireframe,
          clippingPlanes: [this.clipPlane],
          side: THREE.DoubleSide,
        });
      } else {
        item.node.material = item.original;
        item.original.wireframe = mode.wireframe;
        item.original.map = mode.texture ? item.map : null;
        item.original.needsUpdate = true;
      }
    }
    this.draw();
  }

  setClip(percent) {
    if (!this.box) return;
    // the plane sweeps from the top of the model (100 %: nothing cut) down to its base
    const height = this.box.min.y + (this.box.max.y - this.box.min.y) * (percent / 100);
    this.clipPlane.constant = height + (percent >= 100 ? this.radius : 0);
    this.draw();
  }

  pick(event) {
    if (!this.measuring || !this.model) return;
    const rect = this.canvas.getBoundingClientRect();
    const pointer = new THREE.Vector2(
      ((event.clientX - rect.left) / rect.width) * 2 - 1,
      -((event.clientY - rect.top) / rect.height) * 2 + 1,
    );
    this.raycaster.setFromCamera(pointer, this.camera);
    const hit = this.raycaster.intersectObject(this.model, true)[0];
    if (!hit) return;
    if (this.picked.length === 2) {
      this.picked = [];
      this.markers.clear();
    }
    this.picked.push(hit.point.clone());
    const marker = new THREE.Mesh(
      new THREE.SphereGeometry(this.radius / 120),
      new THREE.MeshBasicMaterial({ color: 0xd0103a, depthTest: false }),
    );
    marker.position.copy(hit.point);
    this.markers.add(marker);
    if (this.picked.length === 2) {
      const [a, b] = this.picked;
      this.markers.add(
        new THREE.Line(
          new THREE.BufferGeometry().setFromPoints([a, b]),
          new THREE.LineBasicMaterial({ color: 0xd0103a, depthTest: false }),
        ),
      );
      this.lastDistance = a.distanceTo(b);
      const units = this.units || this.figure.dataset.textUnitsUnknown;
      this.measureText.textContent = `${this.figure.dataset.textDistance}: ${formatNumber(this.lastDistance)} ${units}`;
    }
    this.draw();
  }

  measureBetween(a, b) {
    // for tests and scripts: the distance between two model points, in the model's units
    this.picked = [new THREE.Vector3(...a), new THREE.Vector3(...b)];
    this.lastDistance = this.picked[0].distanceTo(this.picked[1]);
    return this.lastDistance;
  }

  async offerAR() {
    const button = this.figure.querySelector('[data-tool="ar"]');
    if (!button || !navigator.xr) return;
    try {
      if (!(await navigator.xr.isSessionSupported("immersive-ar"))) return;
    } catch {
      return; // a permissions policy may forbid asking
    }
    button.hidden = false;
    button.addEventListener("click", () => this.startAR());
  }

  async startAR() {
    const session = await navigator.xr.requestSession("immersive-ar", {
      optionalFeatures: ["dom-overlay"],
      domOverlay: { root: this.figure },
    });
    const saved = {
      position: this.model.position.clone(),
      scale: this.model.scale.clone(),
      background: this.scene.background,
    };
    // real size where the units are known, else half a metre across; a metre ahead
    const metres = METRES[this.units];
    const scale = metres || 0.5 / (2 * this.radius);
    const centre = this.box.getCenter(new THREE.Vector3());
    this.model.scale.setScalar(scale);
    this.model.position.copy(centre.multiplyScalar(-scale)).add(new THREE.Vector3(0, 0, -1));
    this.scene.background = null;
    this.renderer.xr.enabled = true;
    this.renderer.xr.setReferenceSpaceType("local");
    await this.renderer.xr.setSession(session);
    this.renderer.setAnimationLoop(() => this.renderer.render(this.scene, this.camera));
    session.addEventListener("end", () => {
      this.renderer.setAnimationLoop(null);
      this.renderer.xr.enabled = false;
      this.model.position.copy(saved.position);
      this.model.scale.copy(saved.scale);
      this.scene.background = saved.background;
      this.resize();
    });
  }

  screenshot() {
    const link = document.createElement("a");
    link.download = "model.png";
    link.href = this.canvas.toDataURL("image/png");
    link.click();
  }

  bindTools() {
    const tool = (name) => this.figure.querySelector(`[data-tool="${name}"]`);
    const mode = () => ({
      texture: tool("texture") ? tool("texture").checked : true,
      wireframe: tool("wireframe") ? tool("wireframe").checked : false,
      normals: tool("normals") ? tool("normals").checked : false,
    });
    tool("lighting").addEventListener("change", (event) => this.setLighting(event.target.value));
    for (const name of ["texture", "wireframe", "normals"]) {
      if (tool(name)) tool(name).addEventListener("change", () => this.setMaterials(mode()));
    }
    if (tool("point-size")) {
      tool("point-size").addEventListener("input", (event) => {
        for (const item of this.materials || []) {
          if (item.node.isPoints) item.original.size = Number(event.target.value);
        }
        this.draw();
      });
    }
    tool("clip").addEventListener("input", (event) => this.setClip(Number(event.target.value)));
    tool("measure").addEventListener("click", (event) => {
      this.measuring = !this.measuring;
      event.target.setAttribute("aria-pressed", String(this.measuring));
      this.canvas.classList.toggle("measuring", this.measuring);
      this.measureText.textContent = this.measuring ? this.figure.dataset.textPick : "";
      if (!this.measuring) this.markers.clear();
      this.picked = [];
      this.draw();
    });
    tool("detail").addEventListener("click", (event) => {
      this.detailShown = true;
      event.target.hidden = true;
      this.load(this.figure.dataset.detailUrl);
    });
    tool("screenshot").addEventListener("click", () => this.screenshot());
    tool("fullscreen").addEventListener("click", () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else this.figure.requestFullscreen();
    });
    document.addEventListener("fullscreenchange", () => this.resize());
    let down = null;
    this.canvas.addEventListener("pointerdown", (event) => (down = [event.clientX, event.clientY]));
    this.canvas.addEventListener("pointerup", (event) => {
      // a click, not the end of a drag that turned the model
      if (down && Math.hypot(event.clientX - down[0], event.clientY - down[1]) < 5) this.pick(event);
    });
  }
}

function formatNumber(value) {
  return value.toLocaleString(document.documentElement.lang || undefined, {
    maximumSignificantDigits: 4,
  });
}

window.heritageViewers = [];
for (const figure of document.querySelectorAll("[data-threed-viewer]")) {
  window.heritageViewers.push(new Viewer(figure));
}
