import { test } from "node:test";
import assert from "node:assert/strict";
import golden from "./golden.json";
import { EMBED_SIZE, buildInputs, float16ToFloat32, outputIndices, parseEmbedding, toModelFrame } from "../src/samInputs";
import { maskFromFull } from "../src/mask";
import { maskToLogits } from "../src/postprocess";
import { resizedShape } from "../src/postprocess";

test("float16 bits decode exactly (normal, subnormal, zero, inf, negative)", () => {
  const bits = Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x0000, 0x7c00, 0x3555, 0x7bff);
  const out = Array.from(float16ToFloat32(bits));
  assert.deepEqual(out.slice(0, 5), [1, -2, 2 ** -24, 0, Infinity]);
  assert.ok(Math.abs(out[5] - 0.333251953125) < 1e-12);
  assert.equal(out[6], 65504);
});

test("image pixels -> 1024 frame as ResizeLongestSide.apply_coords", () => {
  for (const g of golden.apply_coords) {
    const [h, w] = g.size;
    const emb = { inputSize: resizedShape(h, w), imageSize: [h, w] as [number, number] };
    g.points.forEach(([x, y], i) => {
      const [cx, cy] = toModelFrame(x, y, emb);
      assert.equal(Math.fround(cx), g.coords[i][0]);
      assert.equal(Math.fround(cy), g.coords[i][1]);
    });
  }
});

test("decoder inputs: padding point without a box, corners 2 / 3 with one, mask input", () => {
  const emb = { inputSize: [768, 1024] as [number, number], imageSize: [3000, 4000] as [number, number] };
  const a = buildInputs({ points: [[400, 300]], labels: [1], box: null, maskInput: null, baseMask: null, multimask: true }, emb);
  assert.deepEqual(Array.from(a.labels), [1, -1]);
  assert.deepEqual(Array.from(a.coords), [102.4, 76.8, 0, 0].map(Math.fround));
  assert.equal(a.hasMaskInput, 0);
  assert.equal(a.maskInput.length, 256 * 256);
  const m = maskFromFull([1, 0, 0, 1], 2, 2);
  const b = buildInputs({ points: [[1, 1]], labels: [0], box: [0, 0, 4000, 3000], maskInput: { kind: "mask", mask: m }, baseMask: m, multimask: false }, emb);
  assert.deepEqual(Array.from(b.labels), [0, 2, 3]);
  assert.equal(b.n, 3);
  assert.deepEqual(Array.from(b.coords.slice(2)), [0, 0, 1024, 768]);
  assert.equal(b.hasMaskInput, 1);
  assert.deepEqual(b.maskInput, maskToLogits(m));
  // a server reference falls back to the base mask's logits
  const c = buildInputs({ points: [[1, 1]], labels: [1], box: null, maskInput: { kind: "server", prediction: "p", candidate: 0 }, baseMask: m, multimask: false }, emb);
  assert.equal(c.hasMaskInput, 1);
  assert.deepEqual(outputIndices(true), [1, 2, 3]);
  assert.deepEqual(outputIndices(false), [0]);
});

test("embedding replies: size and headers checked", () => {
  const headers = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? null });
  const ok = parseEmbedding(new ArrayBuffer(EMBED_SIZE * 2), headers({ "X-Studio-Input-Size": "768,1024", "X-Studio-Image-Size": "3000,4000", "X-Studio-Segmenter": "sam-vit_b-random0" }));
  assert.deepEqual(ok.inputSize, [768, 1024]);
  assert.equal(ok.features.length, EMBED_SIZE);
  assert.throws(() => parseEmbedding(new ArrayBuffer(10), headers({})), /expected 2097152 bytes/);
  assert.throws(() => parseEmbedding(new ArrayBuffer(EMBED_SIZE * 2), headers({ "X-Studio-Input-Size": "768" })), /X-Studio-Input-Size/);
});
