// The view of PushTTeleop (dpedu/course/teleop.py), an anywidget front-end module. It draws the Push-T scene that
// Python sends on a <canvas>, turns the mouse into the agent's target and, while an episode runs, sends that target
// to Python every 100 ms: 10 Hz, the control rate of Chi et al.'s human demonstrations. Python steps the env and
// answers with the new scene.

const ARENA = 512; // env coordinates: x to the right, y downwards, 0..512 (gym-pusht draws pymunk's y downwards)
const TICK_MS = 100;
const COLORS = { goal: "LightGreen", block: "LightSlateGray", agent: "RoyalBlue", target: "Red", wall: "LightGray" };
const AGENT_RADIUS = 15; // gym-pusht's agent, a circle of radius 15

// The view that last met the learner (a click on Start, the mouse on its canvas) drives the clock: a widget shown in
// two places must still step 10 times a second, not 20.
const driver = new WeakMap();

// The T as gym-pusht's keypoints give it: points 0-3 the bar, 4-7 the stem, each a quadrilateral.
function drawT(ctx, keypoints, color) {
  ctx.fillStyle = color;
  for (const start of [0, 8]) {
    ctx.beginPath();
    for (let i = 0; i < 4; i++) ctx.lineTo(keypoints[start + 2 * i], keypoints[start + 2 * i + 1]);
    ctx.closePath();
    ctx.fill();
  }
}

function draw(canvas, model, target) {
  const ctx = canvas.getContext("2d");
  const scene = model.get("scene");
  ctx.setTransform(canvas.width / ARENA, 0, 0, canvas.height / ARENA, 0, 0); // from here on: env coordinates
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, ARENA, ARENA);
  ctx.strokeStyle = COLORS.wall;
  ctx.lineWidth = 4;
  ctx.strokeRect(5, 5, 501, 501); // gym-pusht's walls: segments from 5 to 506
  drawT(ctx, model.get("goal"), COLORS.goal);
  if (!scene.keypoints) return; // no episode started yet: the goal only
  drawT(ctx, scene.keypoints, COLORS.block);
  ctx.fillStyle = COLORS.agent;
  ctx.beginPath();
  ctx.arc(scene.agent[0], scene.agent[1], AGENT_RADIUS, 0, 2 * Math.PI);
  ctx.fill();
  if (target) {
    ctx.strokeStyle = COLORS.target;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(target[0] - 8, target[1]);
    ctx.lineTo(target[0] + 8, target[1]);
    ctx.moveTo(target[0], target[1] - 8);
    ctx.lineTo(target[0], target[1] + 8);
    ctx.stroke();
  }
}

function button(label, onclick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.className = `dpedu-teleop-${label.toLowerCase()} jupyter-widgets jupyter-button widget-button`;
  b.addEventListener("click", onclick);
  return b;
}

function render({ model, el }) {
  const view = {};
  const size = model.get("size");
  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.height = Math.round(size * ratio); // sharp on high-density screens
  Object.assign(canvas.style, { width: `${size}px`, height: `${size}px`, cursor: "crosshair", display: "block" });
  canvas.className = "dpedu-teleop-canvas";

  let target = null; // the mouse in env coordinates; null after Start until the first tick (then: the agent)
  let inFlight = false; // one step sent, not yet answered: a slow kernel slows the clock down, never queues steps
  let halted = false; // Save or Discard clicked: no more steps, even before Python's answer arrives

  canvas.addEventListener("pointermove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(ARENA, Math.max(0, v));
    target = [clamp(((event.clientX - rect.left) * ARENA) / rect.width),
              clamp(((event.clientY - rect.top) * ARENA) / rect.height)];
    driver.set(model, view);
    draw(canvas, model, target);
  });

  const start = button("Start", () => {
    driver.set(model, view);
    target = null;
    inFlight = halted = false;
    model.send({ type: "start" });
  });
  const end = (type) => () => {
    halted = true;
    model.send({ type });
  };
  const save = button("Save", end("save"));
  const discard = button("Discard", end("discard"));
  const status = document.createElement("div");
  status.className = "dpedu-teleop-status";
  Object.assign(status.style, { fontFamily: "monospace", margin: "4px 0" });

  function update() {
    const phase = model.get("phase");
    start.disabled = phase === "running";
    save.disabled = discard.disabled = phase === "idle";
    status.textContent = model.get("status");
  }

  const clock = setInterval(() => {
    if (model.get("phase") !== "running" || inFlight || halted || driver.get(model) !== view) return;
    // Until the mouse moves over the canvas the target is where the agent started: it stays put.
    if (target === null) target = model.get("scene").agent.slice();
    inFlight = true;
    model.send({ type: "step", target });
  }, TICK_MS);

  const onScene = () => {
    inFlight = false;
    draw(canvas, model, target);
  };
  const onPhase = () => {
    inFlight = false; // Python drops a step that arrives after the episode ended: it will not answer it
    update();
  };
  model.on("change:scene", onScene);
  model.on("change:phase", onPhase);
  model.on("change:status", update);

  const buttons = document.createElement("div");
  buttons.append(start, save, discard);
  el.append(canvas, buttons, status);
  driver.set(model, view);
  update();
  draw(canvas, model, target);

  return () => {
    clearInterval(clock);
    model.off("change:scene", onScene);
    model.off("change:phase", onPhase);
    model.off("change:status", update);
  };
}

export default { render };
