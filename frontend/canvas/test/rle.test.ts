import { test } from "node:test";
import assert from "node:assert/strict";
import golden from "./golden.json";
import { shape } from "./shapes";
import { countsToString, decodeRle, encodeRle, rleArea, rleBbox, rleCounts, stringToCounts } from "../src/rle";
import { type BinMask, maskArea, maskBbox, maskFromFull, toFull } from "../src/mask";

const cases = golden.rle as unknown as Record<string, { size: [number, number]; counts: string; area: number; bbox: number[] }>;

test("encode equals pycocotools' compressed string for every golden mask", () => {
  for (const [name, g] of Object.entries(cases)) {
    const rle = encodeRle(shape(name));
    assert.deepEqual(rle.size, g.size, name);
    assert.equal(rle.counts, g.counts, name);
  }
});

test("decode of pycocotools' strings gives the same pixels, area and bbox", () => {
  for (const [name, g] of Object.entries(cases)) {
    if (name === "big") continue; // compared by area / bbox below (24 M pixels)
    const m = decodeRle({ size: g.size, counts: g.counts });
    assert.deepEqual(toFull(m), toFull(shape(name)), name);
    assert.equal(maskArea(m), g.area, name);
    assert.deepEqual(maskBbox(m), g.bbox, name);
  }
  const big = decodeRle({ size: cases.big.size, counts: cases.big.counts });
  assert.equal(maskArea(big), cases.big.area);
  assert.deepEqual([big.x0, big.y0, big.w, big.h], cases.big.bbox);
});

test("area and bbox straight from the counts", () => {
  for (const [name, g] of Object.entries(cases)) {
    const rle = { size: g.size, counts: g.counts };
    assert.equal(rleArea(rle), g.area, name);
    assert.deepEqual(rleBbox(rle), g.bbox, name);
  }
});

test("counts round trip, including large and negative differences", () => {
  const counts = [0, 1, 2 ** 27, 5, 3, 2 ** 30 + 7, 1, 0, 31, 32, 33];
  assert.deepEqual(stringToCounts(countsToString(counts)), counts);
});

test("random masks round trip through encode / decode with any crop", () => {
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let k = 0; k < 30; k++) {
    const w = 1 + Math.floor(rand() * 40);
    const h = 1 + Math.floor(rand() * 40);
    const full = Array.from({ length: w * h }, () => (rand() < 0.3 ? 1 : 0));
    const m = maskFromFull(full, w, h);
    const back = decodeRle(encodeRle(m));
    assert.deepEqual(toFull(back), Uint8Array.from(full));
    // a loose crop (larger than the bbox) encodes the same
    const loose: BinMask = { width: w, height: h, x0: 0, y0: 0, w, h, data: Uint8Array.from(full) };
    assert.equal(encodeRle(loose).counts, encodeRle(m).counts);
  }
});

test("malformed strings and wrong sums are refused with a message", () => {
  assert.throws(() => rleCounts({ size: [2, 2], counts: "3" }), /sum to 3, expected height\*width = 4/);
  assert.throws(() => stringToCounts("0h"), /ends inside a value/);
  assert.throws(() => stringToCounts("~~\u0000"), /out of range/);
});
