// Scale demo: slide a cluster D bandwidths away from the target [a, b]; the exact gradient
// does not move, the loss grows by D, and the naive formula (a ratio of densities) turns
// into NaN once the densities underflow. Traits: D, bins, spread; fixed offsets, z0, h, a, b.

function naiveLossAndGrad(z, x, a, b, h, bins) {
  // The formula that fails, as kdeloss.naive_loss_and_grad: densities, not their logs.
  const e = z.map(Math.exp);
  const tot = e.reduce((u, v) => u + v, 0);
  const s = e.map((v) => v / tot);
  const g = s.slice();
  let sumLog = 0;
  for (const t of binCenters(a, b, bins)) {
    const k = x.map((xj) => Math.exp(-Math.abs(t - xj) / h) / (2 * h));
    const q = k.reduce((u, kj, j) => u + kj * s[j], 0);
    sumLog += Math.log(q);
    for (let i = 0; i < g.length; i++) g[i] -= (s[i] * k[i]) / q / bins;
  }
  return { loss: -sumLog / bins, grad: g };
}

const scaleCurve = { key: null, curve: null };

function scaleCompute(p) {
  const { a, b, h } = p;
  const z = p.z0.map((v) => p.spread * v);
  const xAt = (D) => p.offsets.map((o) => b + h * (D + o));
  const x = xAt(p.D);
  const kernel = { name: "laplace", bandwidth: h };
  const exact = lossAndGrad(z, x, a, b, kernel, p.bins);
  const base = lossAndGrad(z, xAt(0), a, b, kernel, p.bins);
  const naive = naiveLossAndGrad(z, x, a, b, h, p.bins);
  // The loss curve depends on the bins and the logits only: computed when they change.
  const key = JSON.stringify([p.bins, z, p.offsets, a, b, h]);
  if (scaleCurve.key !== key) {
    const curve = [];
    for (let k = 0; k <= 64; k++) {
      const D = (800 * k) / 64;
      const nv = naiveLossAndGrad(z, xAt(D), a, b, h, p.bins);
      curve.push([D, lossAndGrad(z, xAt(D), a, b, kernel, p.bins).loss,
        nv.grad.some(Number.isNaN) ? NaN : nv.loss]);
    }
    scaleCurve.key = key;
    scaleCurve.curve = curve;
  }
  const curve = scaleCurve.curve;
  let change = 0;
  exact.grad.forEach((g, i) => { change = Math.max(change, Math.abs(g - base.grad[i])); });
  return {
    S: softmax(z), exact, base, naive, curve, change,
    naiveNaN: naive.grad.some(Number.isNaN),
    state: { kernel, x, z, a, b, bins: p.bins, grad: exact.grad, loss: exact.loss,
      naive_grad: naive.grad.map((v) => (Number.isNaN(v) ? null : v)) },
  };
}

function scaleDraw(W, R, p) {
  const L = 50, Rm = 10, H = 470;
  const s = scene(W, H, `The target and a cluster ${fmt(p.D, 1)} bandwidths away; the exact ` +
    `gradient bars, the naive formula's bars, and the loss against the distance.`);
  // strip: target on the left, a break, the cluster on the right
  svg("text", { x: L, y: 16, class: "kdl-title" }, s, `cluster D = ${fmt(p.D, 1)} h away`);
  const yl = 52;
  svg("line", { x1: L, x2: W - Rm, y1: yl, y2: yl, stroke: "#000" }, s);
  const tx = linmap(p.a - 0.2, p.b + 0.2, L, L + 0.3 * (W - L - Rm));
  svg("rect", { x: tx(p.a), y: yl - 12, width: tx(p.b) - tx(p.a), height: 12, fill: OI.orange,
    "fill-opacity": 0.6 }, s);
  svg("text", { x: tx(0.5 * (p.a + p.b)), y: yl + 18, "text-anchor": "middle" }, s, "target [a, b]");
  const bx = L + 0.42 * (W - L - Rm);
  svg("path", { d: `M${bx - 6} ${yl + 8}l6 -16M${bx + 2} ${yl + 8}l6 -16`, stroke: "#000",
    fill: "none" }, s);
  const ox = linmap(-0.2, 2.7, L + 0.58 * (W - L - Rm), W - Rm - 8);
  p.offsets.forEach((o, j) => {
    svg("circle", { cx: ox(o), cy: yl, r: 3 + 10 * Math.sqrt(R.S[j]), fill: OI.vermillion,
      stroke: "#000", "stroke-width": 0.8 }, s);
  });
  svg("text", { x: ox(1.25), y: yl + 26, "text-anchor": "middle" }, s, "cluster");
  // gradient bars
  const n = p.offsets.length;
  const gmax = Math.max(0.05, ...R.exact.grad.map(Math.abs), ...R.base.grad.map(Math.abs)) * 1.15;
  const Y = linmap(-gmax, gmax, 230, 110);
  svg("text", { x: L, y: 100, class: "kdl-title" }, s,
    R.naiveNaN ? "exact ∂L/∂z (bars); naive formula: NaN" : "exact ∂L/∂z (bars), naive (dots)");
  axisY(s, L, W - Rm, Y, niceTicks(-gmax, gmax, 4), "∂L/∂z");
  const X = linmap(-0.5, n - 0.5, L, W - Rm);
  const bw = Math.max(8, 0.45 * (X(1) - X(0)));
  R.exact.grad.forEach((g, i) => {
    svg("rect", { x: X(i) - bw / 2, y: Math.min(Y(0), Y(g)), width: bw,
      height: Math.abs(Y(g) - Y(0)), fill: OI.blue }, s);
    svg("line", { x1: X(i) - 0.7 * bw, x2: X(i) + 0.7 * bw, y1: Y(R.base.grad[i]),
      y2: Y(R.base.grad[i]), stroke: "#000", "stroke-width": 2 }, s);
    const nv = R.naive.grad[i];
    if (Number.isNaN(nv)) svg("text", { x: X(i), y: 124, "text-anchor": "middle",
      fill: OI.vermillion, "font-weight": 600 }, s, "NaN");
    else svg("circle", { cx: X(i), cy: Y(nv), r: 4, fill: OI.vermillion }, s);
    svg("text", { x: X(i), y: 246, "text-anchor": "middle" }, s, `x${i + 1}`);
  });
  // loss against D
  const top = 290, bot = 420;
  const lmax = R.curve[R.curve.length - 1][1];
  const lmin = R.curve[0][1];
  const XD = linmap(0, 800, L, W - Rm);
  const YL = linmap(lmin, lmax, bot, top);
  svg("text", { x: L, y: top - 12, class: "kdl-title" }, s, `loss L = ${fmt(R.exact.loss, 4)}`);
  axisY(s, L, W - Rm, YL, niceTicks(lmin, lmax, 4), "loss");
  let d1 = "", d2 = "";
  for (const [D, l, nl] of R.curve) {
    d1 += (d1 ? "L" : "M") + XD(D).toFixed(1) + " " + YL(l).toFixed(1);
    if (Number.isFinite(nl)) d2 += (d2 ? "L" : "M") + XD(D).toFixed(1) + " " + YL(nl).toFixed(1);
  }
  svg("path", { d: d1, fill: "none", stroke: OI.blue, "stroke-width": 2.5 }, s);
  if (d2) svg("path", { d: d2, fill: "none", stroke: OI.vermillion, "stroke-width": 2,
    "stroke-dasharray": "5 4" }, s);
  svg("circle", { cx: XD(p.D), cy: YL(R.exact.loss), r: 5, fill: OI.blue, stroke: "#000" }, s);
  for (const D of [0, 200, 400, 600, 800]) {
    svg("text", { x: XD(D), y: bot + 16, "text-anchor": "middle" }, s, String(D));
  }
  svg("text", { x: W - Rm, y: bot + 32, "text-anchor": "end" }, s, "gap D (bandwidths)");
  legend(s, L, bot + 50, [
    { color: OI.blue, label: "exact (log space)" },
    { color: "#000", label: "at D = 0", shape: "line" },
    { color: OI.vermillion, label: "naive", shape: "circle" },
  ], W);
  s.setAttribute("height", bot + 58);
  s.setAttribute("viewBox", `0 0 ${W} ${bot + 58}`);
  return s;
}

function scaleLive(R, p) {
  return `Gap D = ${fmt(p.D, 1)} bandwidths: loss ${fmt(R.exact.loss, 4)}; the exact gradient ` +
    `differs from its value at D = 0 by ${fmt(R.change, 2)}; the naive formula gives ` +
    `${R.naiveNaN ? "NaN" : "finite numbers"}.`;
}

const SPEC = {
  name: "scale",
  title: "Scale demo: slide a cluster away from the target",
  keys: ["D", "bins", "spread", "offsets", "z0", "h", "a", "b"],
  controls: [
    { key: "D", label: "gap D (bandwidths)", min: 0, max: 800, step: 0.5, format: (v) => fmt(v, 1) },
    { key: "bins", label: "bins M", min: 2, max: 128, step: 1, format: (v) => String(v) },
    { key: "spread", label: "logit spread", min: 0, max: 3, step: 0.01, format: (v) => fmt(v, 2) },
  ],
  compute: scaleCompute,
  draw: scaleDraw,
  live: scaleLive,
};
