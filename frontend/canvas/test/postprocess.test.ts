import { test } from "node:test";
import assert from "node:assert/strict";
import golden from "./golden.json";
import { lowres, shape } from "./shapes";
import { decodeRle, encodeRle } from "../src/rle";
import { maskIou, toFull } from "../src/mask";
import { maskToLogits, resizedShape, upscaleLogits, upscaleLogitsReference } from "../src/postprocess";

test("resizedShape is ResizeLongestSide.get_preprocess_shape", () => {
  for (const g of golden.postprocess) {
    assert.deepEqual(resizedShape(g.size[0], g.size[1]), g.input_size);
  }
});

test("upscaleLogits equals PyTorch's postprocess (> 0) on every golden case", () => {
  for (const g of golden.postprocess) {
    const size = g.size as [number, number];
    const mask = upscaleLogits(lowres(g.kind), g.input_size as [number, number], size);
    const expected = decodeRle({ size, counts: g.rle });
    const got = encodeRle(mask).counts;
    if (got !== g.rle) {
      // float64 here vs float32 there: only pixels at |logit| ~ 1e-6 may differ
      const iou = maskIou(mask, expected);
      assert.ok(iou > 0.99999, `${size}: IoU ${iou}`);
    }
  }
});

test("the bbox-limited upscale equals the two-pass reference", () => {
  for (const [kind, size] of [[0, [97, 130]], [1, [333, 500]], [0, [64, 48]], [1, [300, 301]]] as [number, [number, number]][]) {
    const input = resizedShape(size[0], size[1]);
    const fast = upscaleLogits(lowres(kind), input, size);
    assert.deepEqual(toFull(fast), upscaleLogitsReference(lowres(kind), input, size), `${kind} ${size}`);
  }
});

test("the edge-only upscale equals the reference on noise (a sign change at every pixel) and on stripes", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const noise = Float32Array.from({ length: 256 * 256 }, random);
  const stripes = Float32Array.from({ length: 256 * 256 }, (_, k) => ((k % 256) % 9 < 4 ? 3 : -2) + ((k >> 8) % 7 === 0 ? -6 : 0));
  for (const [logits, size] of [[noise, [700, 530]], [stripes, [1280, 960]], [noise, [37, 1000]], [stripes, [256, 256]]] as [Float32Array, [number, number]][]) {
    const input = resizedShape(size[0], size[1]);
    assert.deepEqual(toFull(upscaleLogits(logits, input, size)), upscaleLogitsReference(logits, input, size), `${size}`);
  }
});

test("upscaleLogits of all-negative logits is empty; a single positive low-res pixel stays local", () => {
  const neg = new Float32Array(256 * 256).fill(-1);
  assert.equal(upscaleLogits(neg, [768, 1024], [3000, 4000]).w, 0);
  neg[100 * 256 + 50] = 5;
  const m = upscaleLogits(neg, [768, 1024], [3000, 4000]);
  assert.ok(m.w > 0 && m.w < 40 && m.h < 40, `crop ${m.w}x${m.h}`);
  assert.ok(Math.abs(m.x0 - 50.5 * 4 * (4000 / 1024)) < 30);
});

test("maskToLogits equals studio.segment.low_res.seed_logits (cv2 INTER_NEAREST)", () => {
  for (const [name, counts] of Object.entries(golden.mask_to_logits as Record<string, string>)) {
    const logits = maskToLogits(shape(name));
    const positive = new Uint8Array(256 * 256);
    for (let i = 0; i < positive.length; i++) positive[i] = logits[i] > 0 ? 1 : 0;
    for (const v of logits) assert.ok(v === 8 || v === -8);
    const expected = toFull(decodeRle({ size: [256, 256], counts }));
    assert.deepEqual(positive, expected, name);
  }
});
