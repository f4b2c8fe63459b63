import { test } from "node:test";
import assert from "node:assert/strict";
import { MaskEditor, applyStroke } from "../src/brush";
import { emptyMask, maskArea, maskAt, maskBbox, maskFromFull, toFull } from "../src/mask";
import { decodeRle, encodeRle } from "../src/rle";

test("a dot paints the pixels whose centres are within the radius", () => {
  const m = applyStroke(emptyMask(20, 20), [[10, 10]], 2, false);
  // centres (x + 0.5, y + 0.5) within 2 of (10, 10): x, y in 8..11 minus the corners
  assert.equal(maskArea(m), 12);
  assert.deepEqual(maskBbox(m), [8, 8, 4, 4]);
  assert.equal(maskAt(m, 8, 8), 0);
  assert.equal(maskAt(m, 9, 9), 1);
});

test("a stroke partly outside the image is clipped to it", () => {
  const m = applyStroke(emptyMask(30, 20), [[-50, 5], [10, 5], [10, 100]], 3, false);
  const [x, y, w, h] = maskBbox(m);
  assert.ok(x >= 0 && y >= 0 && x + w <= 30 && y + h <= 20);
  assert.equal(maskAt(m, 0, 5), 1);
  assert.equal(maskAt(m, 10, 19), 1);
  const rle = encodeRle(m);
  assert.deepEqual(rle.size, [20, 30]);
  assert.deepEqual(toFull(decodeRle(rle)), toFull(m));
  // a stroke entirely outside changes nothing
  assert.equal(maskArea(applyStroke(emptyMask(30, 20), [[-10, -10], [-40, -3]], 2, false)), 0);
});

test("the eraser removes pixels and never grows the mask", () => {
  const full = new Array(10 * 10).fill(0).map((_, i) => (i % 10 >= 2 && i % 10 < 8 ? 1 : 0));
  const m = maskFromFull(full, 10, 10);
  const erased = applyStroke(m, [[5, -5], [5, 20]], 1.2, true); // columns 4 and 5
  assert.equal(maskAt(erased, 5, 5), 0);
  assert.equal(maskAt(erased, 2, 5), 1);
  assert.equal(maskArea(erased), maskArea(m) - 2 * 10);
  assert.equal(maskArea(applyStroke(emptyMask(10, 10), [[5, 5]], 3, true)), 0);
});

test("painting grows the crop and keeps the old pixels; segments join without gaps", () => {
  const start = applyStroke(emptyMask(500, 400), [[10, 10]], 3, false);
  const editor = new MaskEditor(start);
  editor.segment([10, 10], [480, 390], 2, false);
  const m = editor.result();
  assert.equal(maskAt(m, 9, 9), 1); // the old dot
  for (let t = 0; t <= 1; t += 0.01) {
    const x = Math.floor(10 + t * 470);
    const y = Math.floor(10 + t * 380);
    assert.equal(maskAt(m, x, y), 1, `(${x}, ${y}) on the line`);
  }
  assert.ok(editor.generation >= 1);
});
