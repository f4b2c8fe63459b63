// The masks and low-res logits of golden.py, rebuilt from the same formulas.
import { type BinMask, maskFromFull } from "../src/mask";

export function shape(name: string): BinMask {
  const make = (h: number, w: number, f: (x: number, y: number) => boolean): BinMask => {
    const full = new Uint8Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) full[y * w + x] = f(x, y) ? 1 : 0;
    return maskFromFull(full, w, h);
  };
  switch (name) {
    case "pattern":
      return make(37, 53, (x, y) => (x * 7 + y * 13) % 11 < 4);
    case "disc":
      return make(120, 90, (x, y) => (x - 40) ** 2 + (y - 70) ** 2 < 900);
    case "empty":
      return make(10, 12, () => false);
    case "full":
      return make(8, 9, () => true);
    case "first":
      return make(5, 7, (x, y) => x === 0 && y === 0);
    case "last":
      return make(5, 7, (x, y) => x === 6 && y === 4);
    case "stripes":
      return make(64, 64, (x, y) => x % 3 === 0 && y % 5 !== 0);
    case "tall":
      return make(300, 50, (x, y) => x > 10 && y > 20 && x + y < 200);
    case "big":
      return make(4000, 6000, (x, y) => (x >= 1000 && x < 4500 && y >= 500 && y < 3000) || (x - 5000) ** 2 + (y - 3500) ** 2 < 160000);
    default:
      throw new Error(`unknown shape ${name}`);
  }
}

export function lowres(kind: number): Float32Array {
  const out = new Float32Array(256 * 256);
  for (let i = 0; i < 256; i++) {
    for (let j = 0; j < 256; j++) {
      const v =
        kind === 0
          ? 20.0 - ((i - 120.0) * (i - 120.0) + (j - 100.0) * (j - 100.0) * 0.6) / 150.0 + ((i * j) % 17.0) * 0.05
          : 6.0 - ((i - 40.0) * (i - 40.0) + (j - 200.0) * (j - 200.0)) / 40.0;
      out[i * 256 + j] = v;
    }
  }
  return out;
}
