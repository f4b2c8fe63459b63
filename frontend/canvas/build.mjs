// Build the canvas: type-check, bundle src/main.ts with esbuild (ES module + code-split
// chunks, onnxruntime-web in its own chunk), copy onnxruntime-web's WASM runtime files, and
// swap the result into studio_ui/canvas/dist/ in one rename (a running server never sees a
// half-written folder).
//   node build.mjs            the bundle
//   node build.mjs --tests    test/*.test.ts -> .test-build/*.test.mjs (run by node --test)
//   node build.mjs --no-check skip the type check
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const DIST = join(repo, "studio_ui/canvas/dist");
const ORT_FILES = ["ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
const args = new Set(process.argv.slice(2));

function typecheck() {
  const tsc = join(here, "node_modules/.bin/tsc");
  execFileSync(tsc, ["--noEmit", "-p", here], { stdio: "inherit" });
}

async function buildBundle() {
  const tmp = `${DIST}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const result = await build({
    entryPoints: { canvas: join(here, "src/main.ts"), "decoder-worker": join(here, "src/decoderWorker.ts") },
    outdir: tmp,
    bundle: true,
    format: "esm",
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    minify: !process.env.STUDIO_NO_MINIFY,
    sourcemap: "linked",
    target: ["chrome110", "firefox115", "safari16.4"],
    loader: { ".css": "text" },
    // onnxruntime-web's build that loads its .wasm / .mjs from env.wasm.wasmPaths
    conditions: ["onnxruntime-web-use-extern-wasm"],
    legalComments: "linked",
    metafile: true,
    logLevel: "warning",
  });
  mkdirSync(join(tmp, "ort"), { recursive: true });
  for (const f of ORT_FILES) cpSync(join(here, "node_modules/onnxruntime-web/dist", f), join(tmp, "ort", f));
  const hash = createHash("sha256");
  const files = [];
  const walk = (dir, prefix = "") => {
    for (const name of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = prefix + name.name;
      if (name.isDirectory()) walk(join(dir, name.name), `${rel}/`);
      else {
        hash.update(rel).update(readFileSync(join(dir, name.name)));
        files.push(rel);
      }
    }
  };
  walk(tmp);
  const manifest = { build: hash.digest("hex").slice(0, 16), entry: "canvas.js", files };
  writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 1)}\n`);
  const old = `${DIST}.old-${process.pid}`;
  if (existsSync(DIST)) renameSync(DIST, old);
  renameSync(tmp, DIST);
  rmSync(old, { recursive: true, force: true });
  const sizes = Object.entries(result.metafile.outputs)
    .filter(([f]) => f.endsWith(".js"))
    .map(([f, o]) => `${relative(tmp, resolve(process.cwd(), f))} ${(o.bytes / 1024).toFixed(0)} KiB`);
  console.log(`canvas build ${manifest.build} -> ${relative(repo, DIST)}/\n  ${sizes.join("\n  ")}\n  ort/ (onnxruntime-web WASM runtime)`);
}

async function buildTests() {
  const dir = join(here, "test");
  const out = join(here, ".test-build");
  rmSync(out, { recursive: true, force: true });
  const entries = readdirSync(dir).filter((f) => f.endsWith(".test.ts")).map((f) => join(dir, f));
  await build({
    entryPoints: entries,
    outdir: out,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    loader: { ".css": "text", ".json": "json" },
    external: ["onnxruntime-web", "onnxruntime-web/*"],
    logLevel: "warning",
  });
}

if (!args.has("--no-check")) typecheck();
if (args.has("--tests")) await buildTests();
else await buildBundle();
