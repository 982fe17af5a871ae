// Circle demo: points on the circle, the wrapped Laplace kernel, a target arc [a, b] around
// angle 0. Every point moves toward the arc's centre along its shorter arc by delta; the
// gradient holds still while the arc is shorter than a half-turn, no point lies on the arc
// or on its antipodal arc [a + pi, b + pi], and no point has reached a bin. Traits: delta, h,
// w (the arc is [-w, w]), theta (the last point's angle), bins; fixed x0, z.

const circleCache = { key: null, curve: null };

function circleSetup(p) {
  const x0 = p.x0.slice(0, -1).concat([p.theta]);
  const a = -p.w, b = p.w, c = 0;
  const kernel = { name: "wrapped_laplace", bandwidth: p.h };
  const sigma = x0.map((v) => Math.sign(wrapAngle(c - v)));
  return { x0, a, b, c, kernel, sigma };
}

// kdeloss.book.circle.arc_margins: how far each point may move before some bin sees it recede.
function arcMargins(x, a, b) {
  const c = 0.5 * (a + b);
  return x.map((v) => {
    let anti = (v + Math.PI - a) % TWO_PI;
    if (anti < 0) anti += TWO_PI;
    if (anti < b - a) return -Math.PI;
    const s = Math.sign(wrapAngle(c - v));
    return Math.min(s * wrapAngle(a - v), s * wrapAngle(b - v));
  });
}

function circleCompute(p) {
  const { x0, a, b, c, kernel, sigma } = circleSetup(p);
  const at = (d) => x0.map((v, j) => v + d * sigma[j]);
  const x = at(p.delta);
  const whole = lossAndGrad(p.z, x, a, b, kernel, p.bins);
  const base = lossAndGrad(p.z, x0, a, b, kernel, p.bins);
  const bin = binAt(p.z, x, c, kernel);
  const key = JSON.stringify([x0, p.h, p.w, p.bins, p.z]);
  if (circleCache.key !== key) {
    const curve = [];
    for (let k = 0; k <= 40; k++) {
      const d = (1.5 * k) / 40;
      curve.push([d, maxDiffC(lossAndGrad(p.z, at(d), a, b, kernel, p.bins).grad, base.grad)]);
    }
    circleCache.key = key;
    circleCache.curve = curve;
  }
  // the binned gradient holds until a point reaches the first or last bin centre
  const half = (0.5 * (b - a)) / p.bins;
  const margins = arcMargins(x0, a + half, b - half);
  const limit = Math.min(...margins);
  const anti = margins.map((m, j) => (m === -Math.PI ? j : -1)).filter((j) => j >= 0);
  const logS = logSoftmax(p.z);
  const dens = [];
  for (let k = 0; k < 180; k++) {
    const u = (TWO_PI * k) / 180;
    dens.push([u, Math.exp(responsibilities(logS, x, u, kernel).logq)]);
  }
  return {
    x0, x, a, b, whole, base, limit, anti, dens, curve: circleCache.curve, S: logS.map(Math.exp),
    change: maxDiffC(whole.grad, base.grad), short: b - a < Math.PI,
    state: { kernel, x, z: p.z, t: c, grad_bin: bin.grad, a, b, bins: p.bins,
      grad: whole.grad, loss: whole.loss },
  };
}

function maxDiffC(u, v) {
  let m = 0;
  u.forEach((g, i) => { m = Math.max(m, Math.abs(g - v[i])); });
  return m;
}

function circleDraw(W, R, p) {
  const L = 50, Rm = 10;
  const D = Math.min(W - 20, 320);
  const cx = W / 2, cy = 30 + D / 2, r0 = D * 0.3;
  const s = scene(W, 700, `The circle with the target arc, its antipodal arc, the points and ` +
    `the density; the gradient bars against their values before the move.`);
  svg("text", { x: 10, y: 16, class: "kdl-title" }, s, `wrapped Laplace, h = ${fmt(p.h, 2)}, δ = ${fmt(p.delta, 3)}`);
  // angle 0 points right, counter-clockwise up
  const P = (th, r) => [cx + r * Math.cos(th), cy - r * Math.sin(th)];
  const arcPath = (t0, t1, r) => {
    const [x0, y0] = P(t0, r), [x1, y1] = P(t1, r);
    const large = t1 - t0 > Math.PI ? 1 : 0;
    return `M${x0.toFixed(1)} ${y0.toFixed(1)}A${r} ${r} 0 ${large} 0 ${x1.toFixed(1)} ${y1.toFixed(1)}`;
  };
  svg("circle", { cx, cy, r: r0, fill: "none", stroke: "#999" }, s);
  svg("path", { d: arcPath(R.a, R.b, r0), stroke: OI.orange, "stroke-width": 9, fill: "none" }, s);
  if (R.b - R.a < TWO_PI) {
    svg("path", { d: arcPath(R.a + Math.PI, Math.min(R.b + Math.PI, R.a + Math.PI + TWO_PI - 1e-9), r0 - 9),
      stroke: OI.purple, "stroke-width": 6, fill: "none", "stroke-opacity": 0.8 }, s);
  }
  const qmax = Math.max(...R.dens.map((d) => d[1]));
  const rad = (q) => r0 + 8 + (D * 0.17 * q) / qmax;
  const dp = R.dens.map(([u, q], i) => { const [px, py] = P(u, rad(q));
    return (i ? "L" : "M") + px.toFixed(1) + " " + py.toFixed(1); }).join("") + "Z";
  svg("path", { d: dp, fill: "none", stroke: OI.blue, "stroke-width": 2 }, s);
  R.x0.forEach((v, j) => {
    const [px, py] = P(v, r0);
    svg("circle", { cx: px, cy: py, r: 5, fill: "none", stroke: "#777" }, s);
    const [qx, qy] = P(R.x[j], r0);
    svg("circle", { cx: qx, cy: qy, r: 3 + 9 * Math.sqrt(R.S[j]), fill: OI.vermillion,
      stroke: "#000", "stroke-width": 0.8 }, s);
    const [lx, ly] = P(R.x[j], r0 - 24);
    svg("text", { x: lx, y: ly + 4, "text-anchor": "middle" }, s, `x${j + 1}`);
  });
  const y1 = cy + D / 2 + 14;
  const yl = legend(s, 10, y1, [
    { color: OI.orange, label: "target arc" },
    { color: OI.purple, label: "antipodal arc" },
    { color: OI.blue, label: "density q", shape: "line" },
  ], W);
  // gradient bars
  const n = R.x.length;
  const top = yl + 40, bot = top + 110;
  const m = Math.max(0.05, ...R.whole.grad.map(Math.abs), ...R.base.grad.map(Math.abs)) * 1.15;
  const Y = linmap(-m, m, bot, top);
  svg("text", { x: L, y: top - 10, class: "kdl-title" }, s, `∂L/∂z over the arc: change ${fmt(R.change, 2)}`);
  axisY(s, L, W - Rm, Y, niceTicks(-m, m, 3), "");
  const X = linmap(-0.5, n - 0.5, L, W - Rm);
  const bw = Math.max(8, 0.45 * (X(1) - X(0)));
  R.whole.grad.forEach((g, i) => {
    svg("rect", { x: X(i) - bw / 2, y: Math.min(Y(0), Y(g)), width: bw,
      height: Math.abs(Y(g) - Y(0)), fill: R.anti.includes(i) ? OI.purple : OI.blue }, s);
    svg("line", { x1: X(i) - 0.7 * bw, x2: X(i) + 0.7 * bw, y1: Y(R.base.grad[i]),
      y2: Y(R.base.grad[i]), stroke: "#000", "stroke-width": 2 }, s);
    svg("text", { x: X(i), y: bot + 14, "text-anchor": "middle" }, s, `x${i + 1}`);
  });
  // change against delta
  const t2 = bot + 56, b2 = t2 + 90;
  const XD = linmap(0, 1.5, L, W - Rm);
  const YC = linmap(-17, 0, b2, t2);
  svg("text", { x: L, y: t2 - 10, class: "kdl-title" }, s, "gradient change against δ (log scale)");
  for (const e of [-16, -12, -8, -4, 0]) {
    svg("line", { x1: L, x2: W - Rm, y1: YC(e), y2: YC(e), stroke: "#e3e3e3" }, s);
    svg("text", { x: L - 4, y: YC(e) + 4, "text-anchor": "end" }, s, `1e${e}`);
  }
  const path = R.curve.map(([d, v], i) => (i ? "L" : "M") + XD(d).toFixed(1) + " " +
    YC(Math.log10(Math.max(v, 1e-17))).toFixed(1)).join("");
  svg("path", { d: path, fill: "none", stroke: OI.blue, "stroke-width": 2 }, s);
  if (R.limit > 0 && R.short && R.limit <= 1.5) {
    svg("line", { x1: XD(R.limit), x2: XD(R.limit), y1: t2, y2: b2, stroke: "#555",
      "stroke-dasharray": "2 3" }, s);
  }
  svg("line", { x1: XD(p.delta), x2: XD(p.delta), y1: t2 - 4, y2: b2, stroke: OI.vermillion,
    "stroke-width": 2 }, s);
  for (const u of [0, 0.5, 1, 1.5]) {
    svg("text", { x: XD(u), y: b2 + 15, "text-anchor": "middle" }, s, String(u));
  }
  svg("text", { x: W - Rm, y: b2 + 30, "text-anchor": "end" }, s, "moved δ");
  s.setAttribute("height", b2 + 38);
  s.setAttribute("viewBox", `0 0 ${W} ${b2 + 38}`);
  return s;
}

function circleLive(R, p) {
  let why;
  if (!R.short) why = "the arc is a half-turn or longer, so no move keeps it still";
  else if (R.anti.length) why = `point x${R.anti[0] + 1} lies on the antipodal arc`;
  else if (R.limit <= 0) why = "a point lies on the arc";
  else why = `it holds until δ = ${fmt(R.limit, 3)}, when a point reaches a bin`;
  return `Moved ${fmt(p.delta, 3)} along the shorter arcs: the gradient has changed by ` +
    `${fmt(R.change, 2)}; ${why}.`;
}

const SPEC = {
  name: "circle",
  title: "Circle demo: move points toward the target arc",
  keys: ["delta", "h", "w", "theta", "bins", "x0", "z"],
  controls: [
    { key: "delta", label: "moved δ", min: 0, max: 1.5, step: 0.005, format: (v) => fmt(v, 3) },
    { key: "theta", label: "angle of x5", min: -3.14, max: 3.14, step: 0.01, format: (v) => fmt(v, 2) },
    { key: "w", label: "arc half-width", min: 0.1, max: 2, step: 0.01, format: (v) => fmt(v, 2) },
    { key: "h", label: "bandwidth h", min: 0.2, max: 1.5, step: 0.01, format: (v) => fmt(v, 2) },
    { key: "bins", label: "bins M", min: 2, max: 128, step: 1, format: (v) => String(v) },
  ],
  compute: circleCompute,
  draw: circleDraw,
  live: circleLive,
};
