// Timing marks for the benchmark (benchmarks/labelling.py) and the tests: each is also a
// performance.measure entry named "studio-canvas:<kind>" (start = the input event's
// timeStamp, end = the end of the frame that shows the result).
//   click       pointer up (or key) of a prompt -> its mask drawn ("path": browser / server)
//   hover       pointer move -> its preview mask drawn (browser SAM only)
//   accept      A / Accept -> the canvas cleared and ready for the next object (drawn)
//   acceptSaved A / Accept -> the server's reply applied (the annotation is stored)

export type TimingKind = "click" | "hover" | "accept" | "acceptSaved";

export interface Timing {
  kind: TimingKind;
  ms: number;
  path: string; // "browser" | "server" | "local"
  start: number; // performance.now() clock
  end: number;
  answerMs?: number; // click / hover: input event -> the segmenter's answer (the rest is drawing it)
}

const KEEP = 500;

export class Timings {
  last: Timing | null = null;
  readonly samples: Record<TimingKind, Timing[]> = { click: [], hover: [], accept: [], acceptSaved: [] };

  record(kind: TimingKind, ms: number, path: string, start: number, end: number, answered?: number): void {
    const t: Timing = { kind, ms, path, start, end };
    if (answered !== undefined) t.answerMs = answered - start;
    this.last = t;
    const list = this.samples[kind];
    list.push(t);
    if (list.length > KEEP) list.shift();
    try {
      performance.measure(`studio-canvas:${kind}`, { start, end, detail: { path } });
    } catch {
      /* older browsers: the samples are enough */
    }
  }

  clear(): void {
    this.last = null;
    for (const k of Object.keys(this.samples) as TimingKind[]) this.samples[k] = [];
  }
}
