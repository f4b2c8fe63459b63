import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_SCALE, clampView, fitView, minScale, panBy, toImage, toScreen, visibleRect, zoomAt } from "../src/view";

const image = { width: 1920, height: 2560 };
const viewport = { width: 1000, height: 700 };
const close = (a: number, b: number, eps = 1e-9): void => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("fit shows the whole image centred, with the margin", () => {
  const v = fitView(image, viewport, 8);
  close(v.scale, (700 - 16) / 2560);
  const [x0, y0] = toScreen(v, 0, 0);
  const [x1, y1] = toScreen(v, image.width, image.height);
  close(y0, 8);
  close(y1, 692);
  close((x0 + x1) / 2, 500);
});

test("toImage inverts toScreen", () => {
  const v = { scale: 0.37, tx: -12.5, ty: 40 };
  const [sx, sy] = toScreen(v, 812.25, 93.5);
  const [x, y] = toImage(v, sx, sy);
  close(x, 812.25);
  close(y, 93.5);
});

test("zoom keeps the image point under the cursor fixed, within limits", () => {
  const v = fitView(image, viewport);
  const before = toImage(v, 300, 200);
  const z = zoomAt(v, 3, 300, 200, image, viewport);
  close(z.scale, v.scale * 3);
  const after = toImage(z, 300, 200);
  close(after[0], before[0], 1e-6);
  close(after[1], before[1], 1e-6);
  assert.equal(zoomAt(v, 1e9, 300, 200, image, viewport).scale, MAX_SCALE);
  assert.equal(zoomAt(v, 1e-9, 300, 200, image, viewport).scale, minScale(image, viewport));
});

test("pan moves by the drag and never loses the image", () => {
  const v = fitView(image, viewport);
  const p = panBy(v, 30, -20, image, viewport);
  close(p.tx, v.tx + 30);
  close(p.ty, v.ty - 20);
  const far = panBy(v, 1e6, 1e6, image, viewport);
  const [x, y] = toScreen(far, 0, 0);
  assert.ok(x < viewport.width && y < viewport.height, "part of the image stays visible");
  assert.deepEqual(clampView(far, image, viewport), far);
});

test("visibleRect covers exactly the visible pixels, clipped to the image", () => {
  const v = { scale: 2, tx: -100.5, ty: 0 };
  assert.deepEqual(visibleRect(v, image, viewport), [50, 0, 551 - 50, 350]); // x from 50.25 to 550.25
  const fit = fitView(image, viewport);
  assert.deepEqual(visibleRect(fit, image, viewport), [0, 0, 1920, 2560]);
});
