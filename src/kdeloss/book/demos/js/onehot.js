// One-hot demo: a smooth kernel hardens into the box, and S - r(t) into S - e_y.
// Traits: log2p (hardness beta = 2^log2p), box (beta = infinity), t (the bin), spread (z = spread z0),
// and the fixed x, z0, h. Kernel: generalized normal exp(-|d/(h/2)|^p), box |d| <= h/2.

function onehotCompute(p) {
  const x = p.x, h = p.h;
  const z = p.z0.map((v) => p.spread * v);
  const hard = p.box ? null : 2 ** p.log2p;
  const kernel = { name: "generalized_normal", bandwidth: h / 2, p: hard };
  const boxK = { name: "generalized_normal", bandwidth: h / 2, p: null };
  const logS = logSoftmax(z);
  const S = logS.map(Math.exp);
  const o = binAt(z, x, p.t, kernel, 0, 0, logS);
  const lim = binAt(z, x, p.t, boxK, 0, 0, logS);
  const covering = x.map((xj, j) => (Math.abs(p.t - xj) <= h / 2 ? j : -1)).filter((j) => j >= 0);
  let gap = 0, worst = 0;
  o.grad.forEach((g, i) => { const d = Math.abs(g - lim.grad[i]); if (d > gap) { gap = d; worst = i; } });
  const u0 = x[0] - h, u1 = x[x.length - 1] + h, n = 240;
  const curve = [];
  for (let k = 0; k <= n; k++) {
    const u = u0 + ((u1 - u0) * k) / n;
    curve.push([u, Math.exp(logKernel(kernel, p.t - u))]);
  }
  return {
    S, grad: o.grad, limit: lim.grad, covering, gap, worst, curve, u0, u1,
    atPoints: x.map((xj) => Math.exp(logKernel(kernel, p.t - xj))),
    state: { kernel, x, z, t: p.t, grad_bin: o.grad },
  };
}

function onehotDraw(W, R, p) {
  const x = p.x, h = p.h;
  const L = 46, Rm = 10, H = 400;
  const s = scene(W, H, `Top: the kernel centred on the bin t = ${fmt(p.t, 2)}. Bottom: the ` +
    `per-bin gradient bars S − r(t) and the box limit S − e_y for each point.`);
  const X = linmap(x[0] - 0.6 * h, x[x.length - 1] + 0.6 * h, L, W - Rm);
  // top panel: kernel at the bin
  const Y1 = linmap(0, 1.25, 150, 30);
  svg("text", { x: L, y: 16, class: "kdl-title" }, s,
    `kernel shape β = ${p.box ? "∞ (box)" : fmt(2 ** p.log2p, 3)}`);
  axisY(s, L, W - Rm, Y1, [0, 0.5, 1], "K(t−x)/K(0)");
  let d = "";
  for (const [u, k] of R.curve) {
    const px = Math.min(W - Rm, Math.max(L, X(u)));
    d += (d ? "L" : "M") + px.toFixed(1) + " " + Y1(k).toFixed(1);
  }
  svg("path", { d: d + `L${(W - Rm).toFixed(1)} ${Y1(0)}L${L} ${Y1(0)}Z`, fill: OI.sky,
    "fill-opacity": 0.35, stroke: "none" }, s);
  svg("path", { d, fill: "none", stroke: OI.blue, "stroke-width": 2 }, s);
  svg("line", { x1: X(p.t), x2: X(p.t), y1: 26, y2: 360, stroke: "#000",
    "stroke-dasharray": "4 3" }, s);
  x.forEach((xj, j) => {
    svg("line", { x1: X(xj), x2: X(xj), y1: Y1(0), y2: Y1(R.atPoints[j]), stroke: OI.blue,
      "stroke-dasharray": "2 2" }, s);
    svg("circle", { cx: X(xj), cy: Y1(0), r: 3 + 12 * Math.sqrt(R.S[j]), fill: OI.vermillion,
      stroke: "#000", "stroke-width": 0.8 }, s);
  });
  for (const j of R.covering) {
    svg("text", { x: X(x[j]), y: Y1(1.12), "text-anchor": "middle", fill: OI.purple,
      "font-size": 16 }, s, "★");
  }
  // bottom panel: gradient bars
  const lo = -1.05, hi = Math.max(0.75, 1.1 * Math.max(...R.S) + 0.05);
  const Y2 = linmap(lo, hi, 360, 200);
  svg("text", { x: L, y: 190, class: "kdl-title" }, s,
    `max |S − r(t) − (S − e_y)| = ${fmt(R.gap, 2)}`);
  axisY(s, L, W - Rm, Y2, niceTicks(-1, hi, 4), "per-bin gradient");
  const bw = Math.max(6, 0.5 * (X(h) - X(0)));
  x.forEach((xj, j) => {
    const g = R.grad[j];
    svg("rect", { x: X(xj) - bw / 2, y: Math.min(Y2(0), Y2(g)), width: bw,
      height: Math.abs(Y2(g) - Y2(0)), fill: OI.blue }, s);
    svg("line", { x1: X(xj) - 0.7 * bw, x2: X(xj) + 0.7 * bw, y1: Y2(R.limit[j]),
      y2: Y2(R.limit[j]), stroke: "#000", "stroke-width": 2.5 }, s);
    svg("path", { d: `M${X(xj)} ${Y2(R.S[j]) - 5}l5 5l-5 5l-5 -5z`, fill: OI.orange,
      stroke: "#000", "stroke-width": 0.5 }, s);
    svg("text", { x: X(xj), y: 376, "text-anchor": "middle" }, s, `x${j + 1}`);
  });
  legend(s, L, 396, [
    { color: OI.blue, label: "S − r(t)" },
    { color: "#000", label: "S − e_y (box)", shape: "line" },
    { color: OI.orange, label: "weight S" },
    { color: OI.vermillion, label: "point (area ∝ S)", shape: "circle" },
  ], W);
  s.setAttribute("height", H + 14);
  s.setAttribute("viewBox", `0 0 ${W} ${H + 14}`);
  return s;
}

function onehotLive(R, p) {
  const hard = p.box ? "the box" : `hardness β = ${fmt(2 ** p.log2p, 3)}`;
  return `With ${hard} and the bin at t = ${fmt(p.t, 2)}, the largest distance from the ` +
    `gradient to S − e_y is ${fmt(R.gap, 2)}, at point x${R.worst + 1}; ` +
    `${R.covering.length === 1 ? `the box covers point x${R.covering[0] + 1}` :
      `the box covers ${R.covering.length} points`}.`;
}

const SPEC = {
  name: "one-hot",
  title: "One-hot demo: the kernel hardens into the box",
  keys: ["log2p", "box", "t", "spread", "x", "z0", "h"],
  controls: [
    { key: "log2p", label: "hardness log₂ β", min: 0, max: 7, step: 0.01,
      format: (v) => `p=${fmt(2 ** v, 3)}` },
    { key: "box", label: "box kernel (p = ∞)", kind: "checkbox" },
    { key: "t", label: "bin t", min: (m) => -0.45 * m.get("h"),
      max: (m) => (m.get("x").length - 0.55) * m.get("h"), step: 0.01, format: (v) => fmt(v, 2) },
    { key: "spread", label: "logit spread", min: 0, max: 3, step: 0.01, format: (v) => fmt(v, 2) },
  ],
  compute: onehotCompute,
  draw: onehotDraw,
  live: onehotLive,
};
