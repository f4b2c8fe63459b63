// esbuild loads .css files as text (see build.mjs); main.ts puts it in the shadow root.
declare module "*.css" {
  const text: string;
  export default text;
}
