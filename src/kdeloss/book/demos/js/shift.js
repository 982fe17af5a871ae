// Shift demo: every point glides toward the centre c of the target [a, b] by delta. With the
// Laplace kernel the whole-interval gradient holds still until the first point reaches
// [a, b], and the centre bin's until the first point reaches c; with the Gaussian both move
// at once. Traits: delta, h, gaussian, bins; fixed x0, z, a, b.

const shiftCache = { key: null, curve: null };

function shiftAt(p, kernel, delta) {
  const c = 0.5 * (p.a + p.b);
  const x = p.x0.map((v) => v + delta * Math.sign(c - v));
  const bin = binAt(p.z, x, c, kernel);
  const whole = lossAndGrad(p.z, x, p.a, p.b, kernel, p.bins);
  return { x, c, bin, whole };
}

function maxDiff(u, v) {
  let m = 0;
  u.forEach((g, i) => { m = Math.max(m, Math.abs(g - v[i])); });
  return m;
}

function shiftCompute(p) {
  const kernel = { name: p.gaussian ? "gaussian" : "laplace", bandwidth: p.h };
  const now = shiftAt(p, kernel, p.delta);
  const zero = shiftAt(p, kernel, 0);
  const c = now.c;
  // the binned gradient holds until a point reaches the first or last bin centre
  const t0 = p.a + (0.5 * (p.b - p.a)) / p.bins, t1 = p.b - (0.5 * (p.b - p.a)) / p.bins;
  const dInt = Math.min(...p.x0.map((v) => Math.max(t0 - v, v - t1, 0)));
  const dBin = Math.min(...p.x0.map((v) => Math.abs(v - c)));
  const key = JSON.stringify([kernel, p.bins, p.x0, p.z, p.a, p.b]);
  if (shiftCache.key !== key) {
    const curve = [];
    for (let k = 0; k <= 48; k++) {
      const d = (1.6 * k) / 48;
      const o = shiftAt(p, kernel, d);
      curve.push([d, maxDiff(o.bin.grad, zero.bin.grad), maxDiff(o.whole.grad, zero.whole.grad)]);
    }
    shiftCache.key = key;
    shiftCache.curve = curve;
  }
  const lo = Math.min(p.a, ...p.x0) - 0.3, hi = Math.max(p.b, ...p.x0) + 0.3;
  const logS = logSoftmax(p.z);
  const dens = [];
  for (let k = 0; k <= 160; k++) {
    const u = lo + ((hi - lo) * k) / 160;
    dens.push([u, Math.exp(responsibilities(logS, now.x, u, kernel).logq)]);
  }
  return {
    now, zero, c, dInt, dBin, lo, hi, dens, curve: shiftCache.curve, S: logS.map(Math.exp),
    binChange: maxDiff(now.bin.grad, zero.bin.grad),
    wholeChange: maxDiff(now.whole.grad, zero.whole.grad),
    state: { kernel, x: now.x, z: p.z, t: c, grad_bin: now.bin.grad, a: p.a, b: p.b,
      bins: p.bins, grad: now.whole.grad, loss: now.whole.loss },
  };
}

function shiftBars(s, W, L, Rm, top, bot, g, g0, color, title) {
  const n = g.length;
  const m = Math.max(0.05, ...g.map(Math.abs), ...g0.map(Math.abs)) * 1.15;
  const Y = linmap(-m, m, bot, top);
  svg("text", { x: L, y: top - 8, class: "kdl-title" }, s, title);
  axisY(s, L, W - Rm, Y, niceTicks(-m, m, 3), "");
  const X = linmap(-0.5, n - 0.5, L, W - Rm);
  const bw = Math.max(8, 0.45 * (X(1) - X(0)));
  g.forEach((v, i) => {
    svg("rect", { x: X(i) - bw / 2, y: Math.min(Y(0), Y(v)), width: bw,
      height: Math.abs(Y(v) - Y(0)), fill: color }, s);
    svg("line", { x1: X(i) - 0.7 * bw, x2: X(i) + 0.7 * bw, y1: Y(g0[i]), y2: Y(g0[i]),
      stroke: "#000", "stroke-width": 2 }, s);
    svg("text", { x: X(i), y: bot + 14, "text-anchor": "middle" }, s, `x${i + 1}`);
  });
}

function shiftDraw(W, R, p) {
  const L = 50, Rm = 10;
  const s = scene(W, 600, `Points moved ${fmt(p.delta, 3)} toward the target centre; the ` +
    `centre bin's and the whole interval's gradient bars against their values at delta = 0.`);
  const X = linmap(R.lo, R.hi, L, W - Rm);
  const name = p.gaussian ? "Gaussian" : "Laplace";
  svg("text", { x: L, y: 16, class: "kdl-title" }, s, `${name}, h = ${fmt(p.h, 2)}, δ = ${fmt(p.delta, 3)}`);
  const dmax = Math.max(...R.dens.map((d) => d[1]));
  const Y = linmap(0, dmax * 1.1, 120, 30);
  svg("rect", { x: X(p.a), y: Y(0) - 10, width: X(p.b) - X(p.a), height: 10, fill: OI.orange,
    "fill-opacity": 0.6 }, s);
  svg("line", { x1: X(R.c), x2: X(R.c), y1: 28, y2: Y(0), stroke: "#000",
    "stroke-dasharray": "4 3" }, s);
  let d = "";
  for (const [u, q] of R.dens) d += (d ? "L" : "M") + X(u).toFixed(1) + " " + Y(q).toFixed(1);
  svg("path", { d, fill: "none", stroke: OI.blue, "stroke-width": 2 }, s);
  svg("line", { x1: L, x2: W - Rm, y1: Y(0), y2: Y(0), stroke: "#000" }, s);
  p.x0.forEach((v, j) => {
    svg("circle", { cx: X(v), cy: Y(0), r: 5, fill: "none", stroke: "#777" }, s);
    svg("circle", { cx: X(R.now.x[j]), cy: Y(0), r: 3 + 9 * Math.sqrt(R.S[j]),
      fill: OI.vermillion, stroke: "#000", "stroke-width": 0.8 }, s);
  });
  svg("text", { x: X(R.c), y: Y(0) + 16, "text-anchor": "middle" }, s, "c");
  for (const u of niceTicks(R.lo, R.hi, 6)) {
    svg("text", { x: X(u), y: Y(0) + 30, "text-anchor": "middle" }, s, fmt(u, 1));
  }
  shiftBars(s, W, L, Rm, 180, 260, R.now.bin.grad, R.zero.bin.grad, OI.blue,
    `centre bin S − r(c): change ${fmt(R.binChange, 2)}`);
  shiftBars(s, W, L, Rm, 310, 390, R.now.whole.grad, R.zero.whole.grad, OI.green,
    `interval ∂L/∂z, ${p.bins} bins: change ${fmt(R.wholeChange, 2)}`);
  // change against delta, log scale from 1e-16
  const top = 450, bot = 540;
  const XD = linmap(0, 1.6, L, W - Rm);
  const lg = (v) => Math.log10(Math.max(v, 1e-17));
  const YC = linmap(-17, 0, bot, top);
  svg("text", { x: L, y: top - 10, class: "kdl-title" }, s, "gradient change against δ (log scale)");
  for (const e of [-16, -12, -8, -4, 0]) {
    svg("line", { x1: L, x2: W - Rm, y1: YC(e), y2: YC(e), stroke: "#e3e3e3" }, s);
    svg("text", { x: L - 4, y: YC(e) + 4, "text-anchor": "end" }, s, `1e${e}`);
  }
  const path = (k) => R.curve.map(([dd, ...v], i) =>
    (i ? "L" : "M") + XD(dd).toFixed(1) + " " + YC(lg(v[k])).toFixed(1)).join("");
  svg("path", { d: path(0), fill: "none", stroke: OI.blue, "stroke-width": 2 }, s);
  svg("path", { d: path(1), fill: "none", stroke: OI.green, "stroke-width": 2,
    "stroke-dasharray": "5 3" }, s);
  for (const [v, lab] of [[R.dInt, "bin"], [R.dBin, "c"]]) {
    if (v <= 1.6) {
      svg("line", { x1: XD(v), x2: XD(v), y1: top, y2: bot, stroke: "#555",
        "stroke-dasharray": "2 3" }, s);
    }
    void lab;
  }
  svg("line", { x1: XD(p.delta), x2: XD(p.delta), y1: top - 4, y2: bot, stroke: OI.vermillion,
    "stroke-width": 2 }, s);
  for (const u of [0, 0.4, 0.8, 1.2, 1.6]) {
    svg("text", { x: XD(u), y: bot + 15, "text-anchor": "middle" }, s, String(u));
  }
  const yl = legend(s, L, bot + 34, [
    { color: OI.blue, label: "centre bin", shape: "line" },
    { color: OI.green, label: "whole interval", shape: "line" },
    { color: "#555", label: `arrivals δ = ${fmt(R.dInt, 2)}, ${fmt(R.dBin, 2)}`, shape: "line" },
  ], W);
  s.setAttribute("height", yl + 8);
  s.setAttribute("viewBox", `0 0 ${W} ${yl + 8}`);
  return s;
}

function shiftLive(R, p) {
  const held = (v) => (v < 1e-12 ? "holds still" : `has changed by ${fmt(v, 2)}`);
  return `${p.gaussian ? "Gaussian" : "Laplace"} kernel, moved ${fmt(p.delta, 3)}: the ` +
    `centre bin's gradient ${held(R.binChange)}, the whole interval's ${held(R.wholeChange)}` +
    ` (first point reaches a bin centre at ${fmt(R.dInt, 2)}, c at ${fmt(R.dBin, 2)}).`;
}

const SPEC = {
  name: "laplace-shift",
  title: "Shift demo: every point moves toward the target centre",
  keys: ["delta", "h", "gaussian", "bins", "x0", "z", "a", "b"],
  controls: [
    { key: "delta", label: "moved δ", min: 0, max: 1.6, step: 0.005, format: (v) => fmt(v, 3) },
    { key: "h", label: "bandwidth h", min: 0.2, max: 1.5, step: 0.01, format: (v) => fmt(v, 2) },
    { key: "bins", label: "bins M", min: 2, max: 128, step: 1, format: (v) => String(v) },
    { key: "gaussian", label: "Gaussian kernel (instead of Laplace)", kind: "checkbox" },
  ],
  compute: shiftCompute,
  draw: shiftDraw,
  live: shiftLive,
};
