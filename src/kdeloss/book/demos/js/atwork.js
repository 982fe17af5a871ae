// At-work demo: four trained models' predicted densities of the value y at one input u.
// Traits: u; fixed grid (points on [0, 100]) and models, each
// {kind, name, W (features + 1 rows, one column per cell), centres, edges, bandwidth}.
// Ports kdeloss.book.atwork: features, predictive_density, true_log_density.

const MODEL_STYLE = {
  kde: { color: OI.blue, dash: null, label: "this book (Laplace KDE)" },
  histogram: { color: OI.green, dash: "7 4", label: "histogram loss" },
  classify: { color: OI.purple, dash: "2 3", label: "classification" },
  hlgauss: { color: OI.vermillion, dash: "8 3 2 3", label: "HL-Gauss" },
};

function bumps(u, count) {
  const w = 1 / (count - 1);
  const out = [];
  for (let k = 0; k < count; k++) out.push(Math.exp(-0.5 * ((u - k * w) / w) ** 2));
  out.push(1);
  return out;
}

function logNormal(t, mean, sd) {
  return -0.5 * ((t - mean) / sd) ** 2 - Math.log(sd * Math.sqrt(TWO_PI));
}

function atworkCompute(p) {
  const phi = bumps(p.u, p.models[0].W.length - 1);
  const grid = Array.from({ length: p.grid }, (_, k) => (100 * k) / (p.grid - 1));
  const predictive = {};
  let kde = null;
  for (const m of p.models) {
    const z = m.W[0].map((_, j) => phi.reduce((s, f, r) => s + f * m.W[r][j], 0));
    const logS = logSoftmax(z);
    let density;
    if (m.kind === "kde") {
      const kernel = { name: "laplace", bandwidth: m.bandwidth };
      density = grid.map((t) => Math.exp(responsibilities(logS, m.centres, t, kernel).logq));
      kde = { kernel, x: m.centres, z };
    } else {
      const e = m.edges;
      density = grid.map((t) => {
        if (t < e[0] || t > e[e.length - 1]) return 0;
        let k = e.findIndex((v, i) => i > 0 && t < v) - 1;
        if (k < 0) k = e.length - 2;
        return Math.exp(logS[k] - Math.log(e[k + 1] - e[k]));
      });
    }
    predictive[m.kind] = { z, density, edges: m.edges };
  }
  const truth = grid.map((t) => Math.exp(logSumExp([
    Math.log(0.7) + logNormal(t, 20 + 50 * p.u, 4),
    Math.log(0.3) + logNormal(t, 70 - 30 * p.u, 6),
  ])));
  const state = { kernel: kde.kernel, x: kde.x, z: kde.z, u: p.u, grid, predictive, truth,
    W: Object.fromEntries(p.models.map((m) => [m.kind, m.W])) };
  return { grid, predictive, truth, state };
}

function atworkDraw(W, R, p) {
  const L = 50, Rm = 10, top = 34, bot = 300;
  const s = scene(W, 380, `Predicted densities of the value at input u = ${fmt(p.u, 2)}`);
  svg("text", { x: L, y: 16, class: "kdl-title" }, s, `input u = ${fmt(p.u, 2)}`);
  const ymax = Math.max(0.08, ...R.truth, ...Object.values(R.predictive).flatMap((v) => v.density));
  const X = linmap(0, 100, L, W - Rm);
  const Y = linmap(0, ymax * 1.05, bot, top);
  axisY(s, L, W - Rm, Y, niceTicks(0, ymax, 4), "density");
  svg("rect", { x: X(60), y: top, width: X(100) - X(60), height: bot - top, fill: "#000",
    "fill-opacity": 0.06 }, s);
  const area = R.grid.map((t, i) => (i ? "L" : "M") + X(t).toFixed(1) + " " + Y(R.truth[i]).toFixed(1)).join("") +
    `L${X(100).toFixed(1)} ${Y(0).toFixed(1)}L${X(0).toFixed(1)} ${Y(0).toFixed(1)}Z`;
  svg("path", { d: area, fill: OI.orange, "fill-opacity": 0.35, stroke: "none" }, s);
  for (const m of p.models) {
    const st = MODEL_STYLE[m.kind];
    const d = R.predictive[m.kind].density;
    const path = R.grid.map((t, i) => (i ? "L" : "M") + X(t).toFixed(1) + " " + Y(d[i]).toFixed(1)).join("");
    const attrs = { d: path, fill: "none", stroke: st.color, "stroke-width": m.kind === "kde" ? 2.6 : 2 };
    if (st.dash) attrs["stroke-dasharray"] = st.dash;
    svg("path", attrs, s);
  }
  for (const v of niceTicks(0, 100, 5)) {
    svg("text", { x: X(v), y: bot + 16, "text-anchor": "middle" }, s, String(v));
  }
  svg("text", { x: W - Rm, y: bot + 32, "text-anchor": "end" }, s, "value y (grey: the top-coded bracket 60+)");
  const items = [{ color: OI.orange, label: "true density", shape: "rect" }].concat(
    p.models.map((m) => ({ color: MODEL_STYLE[m.kind].color, label: MODEL_STYLE[m.kind].label,
      shape: MODEL_STYLE[m.kind].dash ? "dash" : "line" })));
  const yl = legend(s, L, bot + 52, items, W);
  s.setAttribute("height", yl + 8);
  s.setAttribute("viewBox", `0 0 ${W} ${yl + 8}`);
  return s;
}

function atworkLive(R, p) {
  const peak = (d) => R.grid[d.indexOf(Math.max(...d))];
  return `Input ${fmt(p.u, 2)}: the true density peaks at ${fmt(peak(R.truth), 1)}; ` +
    p.models.map((m) => `${MODEL_STYLE[m.kind].label} at ${fmt(peak(R.predictive[m.kind].density), 1)}`)
      .join(", ") + ".";
}

const SPEC = {
  name: "at-work",
  title: "Trained models' predicted densities at one input",
  keys: ["u", "grid", "models"],
  controls: [
    { key: "u", label: "input u", min: 0, max: 1, step: 0.01, format: (v) => fmt(v, 2) },
  ],
  compute: atworkCompute,
  draw: atworkDraw,
  live: atworkLive,
};
