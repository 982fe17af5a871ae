// Dynamics demo: gradient descent on the logits of a far cluster, with and without a fixed
// background eps/(b - a). The plain loss moves the weights the same way at any distance; with
// the background each bin's gradient is multiplied by pi(t) and a far cluster freezes.
// Traits: d, eps, near, lr; fixed cluster, steps, h, bins (target [0, 1]).

const COLOURS = [OI.blue, OI.orange, OI.purple, OI.green, OI.vermillion, OI.sky];

function descend(z0, x, kernel, bins, eps, steps, lr) {
  let z = z0.slice();
  const weights = [softmax(z)];
  for (let k = 0; k < steps; k++) {
    const o = lossAndGrad(z, x, 0, 1, kernel, bins, eps);
    z = z.map((v, i) => v - lr * o.grad[i]);
    weights.push(softmax(z));
  }
  return weights;
}

function remedyCompute(p) {
  const x = p.cluster.map((c) => -p.d - c);
  if (p.near) x.push(0.5);
  const z = x.map(() => 0);
  const kernel = { name: "laplace", bandwidth: p.h };
  const start = lossAndGrad(z, x, 0, 1, kernel, p.bins, p.eps);
  const plain = descend(z, x, kernel, p.bins, 0, p.steps, p.lr);
  const damped = descend(z, x, kernel, p.bins, p.eps, p.steps, p.lr);
  const logS = logSoftmax(z);
  const pi = [];
  for (let k = 0; k <= 100; k++) {
    const t = k / 100;
    pi.push([t, binAt(z, x, t, kernel, p.eps, 0, logS).pi]);
  }
  const mid = binAt(z, x, 0.5, kernel, p.eps, 0, logS);
  const moved = (w) => Math.max(...w[0].map((s, j) => Math.abs(w[w.length - 1][j] - s)));
  return {
    x, plain, damped, pi, movedPlain: moved(plain), movedDamped: moved(damped),
    meanPi: pi.reduce((u, v) => u + v[1], 0) / pi.length,
    state: { kernel, x, z, t: 0.5, grad_bin: mid.grad, a: 0, b: 1, bins: p.bins,
      background: p.eps, grad: start.grad, loss: start.loss,
      descent: { steps: p.steps, lr: p.lr, plain: plain[plain.length - 1],
        background: damped[damped.length - 1] } },
  };
}

function remedyDraw(W, R, p) {
  const L = 50, Rm = 10;
  const s = scene(W, 440, `The cluster ${fmt(p.d, 2)} from the target with background ` +
    `${fmt(p.eps, 3)}; pi(t) on the target, and each weight over ${p.steps} steps.`);
  svg("text", { x: L, y: 16, class: "kdl-title" }, s, `gap d = ${fmt(p.d, 2)}, background ε = ${fmt(p.eps, 3)}`);
  const lo = Math.min(0, ...R.x) - 0.3;
  const X = linmap(lo, 1.3, L, W - Rm);
  const Y = linmap(0, 1.15, 130, 30);
  axisY(s, L, W - Rm, Y, [0, 0.5, 1], "π(t)");
  svg("rect", { x: X(0), y: Y(1.15), width: X(1) - X(0), height: Y(0) - Y(1.15), fill: OI.orange,
    "fill-opacity": 0.2 }, s);
  const d = R.pi.map(([t, v], i) => (i ? "L" : "M") + X(t).toFixed(1) + " " + Y(v).toFixed(1)).join("");
  svg("path", { d, fill: "none", stroke: OI.green, "stroke-width": 2.5 }, s);
  R.x.forEach((xj, j) => svg("circle", { cx: X(xj), cy: Y(0), r: 6, fill: COLOURS[j],
    stroke: "#000", "stroke-width": 0.8 }, s));
  for (const u of niceTicks(lo, 1.3, 5)) {
    svg("text", { x: X(u), y: Y(0) + 16, "text-anchor": "middle" }, s, fmt(u, 1));
  }
  svg("text", { x: W - Rm, y: Y(0) + 30, "text-anchor": "end" }, s,
    `target [0, 1] shaded; mean π = ${fmt(R.meanPi, 2)}`);
  // weights over the iterations
  const top = 200, bot = 370;
  svg("text", { x: L, y: top - 14, class: "kdl-title" }, s,
    `moved: plain ${fmt(R.movedPlain, 2)}, background ${fmt(R.movedDamped, 2)}`);
  const K = linmap(0, p.steps, L, W - Rm);
  const YW = linmap(0, 1, bot, top);
  axisY(s, L, W - Rm, YW, [0, 0.25, 0.5, 0.75, 1], "weights S_j(k)");
  for (const [w, dash] of [[R.plain, null], [R.damped, "6 4"]]) {
    R.x.forEach((_, j) => {
      const path = w.map((row, k) => (k ? "L" : "M") + K(k).toFixed(1) + " " + YW(row[j]).toFixed(1)).join("");
      const attrs = { d: path, fill: "none", stroke: COLOURS[j], "stroke-width": 2.2 };
      if (dash) attrs["stroke-dasharray"] = dash;
      svg("path", attrs, s);
    });
  }
  for (const k of niceTicks(0, p.steps, 4)) {
    svg("text", { x: K(k), y: bot + 16, "text-anchor": "middle" }, s, String(k));
  }
  svg("text", { x: W - Rm, y: bot + 32, "text-anchor": "end" }, s, "iteration k");
  const yl = legend(s, L, bot + 52, [
    { color: "#000", label: "plain loss", shape: "line" },
    { color: "#000", label: "with background", shape: "dash" },
  ], W);
  s.setAttribute("height", yl + 8);
  s.setAttribute("viewBox", `0 0 ${W} ${yl + 8}`);
  return s;
}

function remedyLive(R, p) {
  return `Gap ${fmt(p.d, 2)}, background ${fmt(p.eps, 3)}: in ${p.steps} steps the largest ` +
    `weight change is ${fmt(R.movedPlain, 2)} with the plain loss and ${fmt(R.movedDamped, 2)} ` +
    `with the background (mean π on the target ${fmt(R.meanPi, 2)}).`;
}

const SPEC = {
  name: "dynamics",
  title: "Background remedy demo: training a far cluster",
  keys: ["d", "eps", "near", "lr", "cluster", "steps", "h", "bins"],
  controls: [
    { key: "d", label: "gap d", min: 0, max: 3, step: 0.01, format: (v) => fmt(v, 2) },
    { key: "eps", label: "background ε", min: 0, max: 0.2, step: 0.001, format: (v) => fmt(v, 3) },
    { key: "lr", label: "step size", min: 0.1, max: 4, step: 0.1, format: (v) => fmt(v, 1) },
    { key: "near", label: "add a point inside the target", kind: "checkbox" },
  ],
  compute: remedyCompute,
  draw: remedyDraw,
  live: remedyLive,
};
