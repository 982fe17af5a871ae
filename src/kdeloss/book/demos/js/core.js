// kdeloss live demos: the shared core (one copy per demo module; see kdeloss/demos/live.py).
//
// A port of kdeloss's log-space formulas: log-softmax, log K for the kernels of the
// data-state contract, responsibilities r = softmax(log S + log K(t - x)), the per-bin
// gradient S - r(t) (times pi(t) with a background) and the binned loss and gradient.
// Never a ratio of densities: every density is carried as its logarithm.
// Plus the small toolkit every demo draws with: controls, an SVG scene, the aria-live line.

const TWO_PI = 2 * Math.PI;
// Okabe-Ito colours, as kdeloss.book.plots.OKABE_ITO.
const OI = {
  black: "#000000", orange: "#E69F00", sky: "#56B4E9", green: "#009E73",
  yellow: "#F0E442", blue: "#0072B2", vermillion: "#D55E00", purple: "#CC79A7",
};

function logSumExp(v) {
  let m = -Infinity;
  for (const a of v) if (a > m) m = a;
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (const a of v) s += Math.exp(a - m);
  return m + Math.log(s);
}

function logSoftmax(z) {
  let m = -Infinity;
  for (const a of z) if (a > m) m = a;
  let s = 0;
  for (const a of z) s += Math.exp(a - m);
  const c = m + Math.log(s);
  return z.map((a) => a - c);
}

function softmax(z) {
  return logSoftmax(z).map(Math.exp);
}

// kdeloss.wrap_angle: into (-pi, pi], as pi - mod(pi - d, 2 pi) with a floored modulo.
function wrapAngle(d) {
  const u = Math.PI - d;
  let m = u % TWO_PI;
  if (m < 0) m += TWO_PI;
  return Math.PI - m;
}

// log K(d) with kdeloss's normalisation. kernel = {name, bandwidth, p}.
function logKernel(kernel, d) {
  const h = kernel.bandwidth;
  switch (kernel.name) {
    case "laplace":
      return -Math.abs(d) / h - Math.log(2 * h);
    case "gaussian":
      return -0.5 * (d / h) ** 2 - Math.log(h * Math.sqrt(2 * Math.PI));
    case "box":
      return Math.abs(d) <= 0.5 * h ? -Math.log(h) : -Infinity;
    case "wrapped_laplace": {
      const w = wrapAngle(d);
      return -Math.abs(w) / h - (Math.log(2 * h) + Math.log(-Math.expm1(-Math.PI / h)));
    }
    case "generalized_normal": {
      // exp(-|d/h|^p), unnormalised (the demos that use it show gradients only);
      // p = null is the box limit |d| <= h.
      const u = Math.abs(d / h);
      if (kernel.p === null || kernel.p === undefined) return u <= 1 ? 0 : -Infinity;
      return -(u ** kernel.p);
    }
    default:
      throw new Error("kernel: unknown " + kernel.name);
  }
}

// Log-weights log S_j + log K(t - x_j), their log-sum log q_model(t) and r(t).
function responsibilities(logS, x, t, kernel) {
  const a = x.map((xj, j) => logS[j] + logKernel(kernel, t - xj));
  const logq = logSumExp(a);
  const r = Number.isFinite(logq) ? a.map((v) => Math.exp(v - logq)) : a.map(() => 0);
  return { logq, r };
}

function log1pExp(v) {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}

// One bin: the gradient S - r(t) (times pi(t) with background eps and density u), log q(t).
// Returns null where no kernel reaches t and there is no background (q = 0: kdeloss raises).
function binAt(z, x, t, kernel, eps = 0, logU = 0, logS = logSoftmax(z)) {
  const { logq, r } = responsibilities(logS, x, t, kernel);
  const S = logS.map(Math.exp);
  if (eps === 0) {
    if (!Number.isFinite(logq)) return null;
    return { grad: S.map((s, i) => s - r[i]), logq, pi: 1 };
  }
  const logFit = Math.log1p(-eps) + logq;
  const logBg = Math.log(eps) + logU;
  let lq;
  if (!Number.isFinite(logFit)) lq = logBg;
  else lq = Math.max(logFit, logBg) + log1pExp(-Math.abs(logFit - logBg));
  const pi = Math.exp(logFit - lq);
  return { grad: S.map((s, i) => pi * (s - r[i])), logq: lq, pi };
}

// kdeloss.bin_centers: t_m = a + (m + 1/2) (b - a) / M.
function binCenters(a, b, M) {
  const w = (b - a) / M;
  return Array.from({ length: M }, (_, m) => a + (m + 0.5) * w);
}

// kdeloss.loss_and_grad: binned loss and gradient on [a, b]; background density 1/(b - a).
function lossAndGrad(z, x, a, b, kernel, bins, eps = 0) {
  const logS = logSoftmax(z);
  const logU = -Math.log(b - a);
  const grad = new Array(z.length).fill(0);
  let sumLogq = 0;
  for (const t of binCenters(a, b, bins)) {
    const o = binAt(z, x, t, kernel, eps, logU, logS);
    if (o === null) return null;
    sumLogq += o.logq;
    for (let i = 0; i < grad.length; i++) grad[i] += o.grad[i];
  }
  return { loss: -sumLogq / bins, grad: grad.map((g) => g / bins) };
}

// ---- drawing ---------------------------------------------------------------------------

const SVGNS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, parent = null, text = null) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function linmap(d0, d1, r0, r1) {
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const a = Math.abs(v);
  const s = a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(digits - 1) : v.toFixed(digits);
  return s.replace("-", "−");
}

const CSS = `
.kdl-demo{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
  background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px;margin:0.5em 0;
  max-width:760px;box-sizing:border-box;overflow:hidden}
.kdl-demo *{box-sizing:border-box}
.kdl-controls{display:grid;grid-template-columns:minmax(7em,max-content) 1fr 4.5em;
  gap:4px 10px;align-items:center;margin-bottom:6px}
.kdl-controls label{font-size:14px}
.kdl-controls input[type=range]{width:100%;min-width:0;height:28px;margin:0;accent-color:#0072B2}
.kdl-controls output{font:13px ui-monospace,monospace;text-align:right}
.kdl-controls .kdl-check{grid-column:1/-1;display:flex;gap:8px;align-items:center}
.kdl-controls input[type=checkbox]{width:20px;height:20px;margin:0}
.kdl-demo svg{display:block;width:100%;height:auto;overflow:visible}
.kdl-demo svg text{font-size:12px;fill:#1a1a1a}
.kdl-demo svg text.kdl-title{font-size:13px;font-weight:600}
.kdl-live{font-size:14px;margin:6px 0 0;min-height:2.8em}
.kdl-demo :focus-visible{outline:3px solid #E69F00;outline-offset:2px}
@media (prefers-reduced-motion:no-preference){.kdl-demo .kdl-anim{transition:opacity .15s}}
@media (prefers-reduced-motion:reduce){.kdl-demo *{transition:none!important;animation:none!important}}
@media (max-width:480px){.kdl-controls{grid-template-columns:1fr 4.2em}
  .kdl-controls label{grid-column:1/-1}}
`;

let uid = 0;

// Mount a demo. spec = {name, title, controls: [{key, label, min, max, step, kind}],
// compute(p) -> result with .state, draw(root, W, result), live(result) -> string}.
// Controls write their trait and redraw synchronously in the input handler; data-state is
// written at the end of every redraw.
function mountDemo(model, el, spec) {
  const id = "kdl" + ++uid + Math.random().toString(36).slice(2, 7);
  const root = document.createElement("div");
  root.className = "kdl-demo";
  root.setAttribute("data-kdeloss-demo", spec.name);
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", spec.title);
  const style = document.createElement("style");
  style.textContent = CSS;
  root.appendChild(style);
  const form = document.createElement("div");
  form.className = "kdl-controls";
  root.appendChild(form);
  const inputs = {};
  for (const c of spec.controls) {
    const input = document.createElement("input");
    input.id = `${id}-${c.key}`;
    input.name = c.key;
    const label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = c.label;
    if (c.kind === "checkbox") {
      input.type = "checkbox";
      const box = document.createElement("div");
      box.className = "kdl-check";
      box.append(input, label);
      form.appendChild(box);
      input.addEventListener("input", () => {
        model.set(c.key, input.checked);
        model.save_changes();
        redraw();
      });
    } else {
      input.type = "range";
      const get = (v) => (typeof v === "function" ? v(model) : v);
      input.min = get(c.min);
      input.max = get(c.max);
      input.step = get(c.step);
      const out = document.createElement("output");
      out.htmlFor = input.id;
      out.id = `${id}-${c.key}-out`;
      form.append(label, input, out);
      input.addEventListener("input", () => {
        model.set(c.key, Number(input.value));
        model.save_changes();
        redraw();
      });
      c.out = out;
    }
    inputs[c.key] = input;
  }
  const figure = document.createElement("div");
  root.appendChild(figure);
  const live = document.createElement("p");
  live.className = "kdl-live";
  live.setAttribute("aria-live", "polite");
  live.setAttribute("role", "status");
  root.appendChild(live);
  el.appendChild(root);

  let width = 0;
  function redraw() {
    const p = {};
    for (const k of spec.keys) p[k] = model.get(k);
    for (const c of spec.controls) {
      const input = inputs[c.key];
      if (c.kind === "checkbox") input.checked = Boolean(p[c.key]);
      else {
        if (Number(input.value) !== p[c.key]) input.value = p[c.key];
        const shown = c.format ? c.format(p[c.key], p) : fmt(p[c.key]);
        c.out.textContent = shown;
        input.setAttribute("aria-valuetext", shown);
      }
    }
    const result = spec.compute(p);
    width = Math.max(300, Math.min(740, Math.floor(figure.clientWidth || root.clientWidth || 640)));
    figure.replaceChildren(spec.draw(width, result, p));
    live.textContent = spec.live(result, p);
    root.setAttribute("data-state", JSON.stringify(result.state));
  }
  for (const k of spec.keys) model.on(`change:${k}`, redraw);
  redraw();
  if (typeof ResizeObserver !== "undefined") {
    const ro = new ResizeObserver(() => {
      const w = Math.max(300, Math.min(740, Math.floor(figure.clientWidth)));
      if (w !== width && figure.clientWidth > 0) redraw();
    });
    ro.observe(figure);
    return () => ro.disconnect();
  }
  return () => {};
}

// A plain model for the static page: the same get/set/on interface as anywidget's.
function staticModel(state) {
  const data = { ...state };
  const handlers = {};
  return {
    get: (k) => data[k],
    set: (k, v) => { data[k] = v; },
    save_changes: () => {},
    on: (ev, fn) => { (handlers[ev] = handlers[ev] || []).push(fn); },
    off: () => {},
  };
}

// An SVG scene of width W: an array of panels stacked vertically.
function scene(W, H, label) {
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": label });
  return s;
}

// Bars of values v at positions px (pixel centres), a zero line, y-range [lo, hi] -> [y0, y1].
function axisY(parent, x0, x1, ymap, ticks, label) {
  const g = svg("g", {}, parent);
  for (const t of ticks) {
    const y = ymap(t);
    svg("line", { x1: x0, x2: x1, y1: y, y2: y, stroke: t === 0 ? "#000" : "#e3e3e3",
      "stroke-width": t === 0 ? 1 : 1 }, g);
    svg("text", { x: x0 - 4, y: y + 4, "text-anchor": "end" }, g, fmt(t, 2).replace(/\.?0+$/, "") || "0");
  }
  if (label) {
    const ym = 0.5 * (ymap(ticks[0]) + ymap(ticks[ticks.length - 1]));
    svg("text", { x: 12, y: ym, transform: `rotate(-90 12 ${ym})`, "text-anchor": "middle" }, g, label);
  }
  return g;
}

function niceTicks(lo, hi, n = 4) {
  const span = hi - lo;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= step0) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) {
    out.push(Math.abs(v) < 1e-12 * span ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

function legend(parent, x, y, items, W) {
  // items: [{color, label, shape}] laid out left to right, wrapping at W.
  let cx = x, cy = y;
  const g = svg("g", {}, parent);
  for (const it of items) {
    const w = 22 + 7 * it.label.length;
    if (cx + w > W - 4 && cx > x) { cx = x; cy += 17; }
    if (it.shape === "line" || it.shape === "dash") svg("line", { x1: cx, x2: cx + 14,
      y1: cy - 4, y2: cy - 4, stroke: it.color, "stroke-width": 3,
      "stroke-dasharray": it.shape === "dash" ? "4 2" : "none" }, g);
    else if (it.shape === "circle") svg("circle", { cx: cx + 7, cy: cy - 4, r: 5, fill: it.color,
      stroke: "#000", "stroke-width": 0.7 }, g);
    else svg("rect", { x: cx, y: cy - 10, width: 14, height: 11, fill: it.color }, g);
    svg("text", { x: cx + 18, y: cy }, g, it.label);
    cx += w;
  }
  return cy;
}
