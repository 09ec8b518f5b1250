// The virtual goniometer's geometry: pure functions of points on the frozen frame, no DOM.
// A point is {x, y} in the frame's own pixels (y grows downwards, as on a canvas).

/** Two points closer than this are the same point: no arm, no angle. */
export const SAME_POINT = 1e-6;

function armLength(from, to) {
  return Math.hypot(to.x - from.x, to.y - from.y);
}

/**
 * The angle at `axis` between the arms towards `proximal` and `distal`, in degrees from 0 to
 * 180 (a goniometer's reading): the same whichever arm is which, and the same on a mirrored
 * image. null when an arm has no length (a point placed on the axis).
 */
export function angleAt(proximal, axis, distal) {
  const a = armLength(axis, proximal);
  const b = armLength(axis, distal);
  if (!(a > SAME_POINT && b > SAME_POINT)) return null;
  const u = { x: proximal.x - axis.x, y: proximal.y - axis.y };
  const v = { x: distal.x - axis.x, y: distal.y - axis.y };
  // atan2 of the cross and dot products: exact at 0° and 180°, where acos loses precision.
  const cross = Math.abs(u.x * v.y - u.y * v.x);
  const dot = u.x * v.x + u.y * v.y;
  return (Math.atan2(cross, dot) * 180) / Math.PI;
}

/** The reading recorded: a whole number of degrees, or null without an angle. */
export function wholeDegrees(angle) {
  return angle === null || !Number.isFinite(angle) ? null : Math.min(180, Math.max(0, Math.round(angle)));
}

/** A point as it appears when the frame (of this width) is flipped left to right. */
export function mirrorPoint(point, width) {
  return { x: width - point.x, y: point.y };
}

/** Every point flipped with the frame, so each stays on the same landmark of the body. */
export function mirrorPoints(points, width) {
  return Object.fromEntries(Object.entries(points).map(([name, point]) => [name, mirrorPoint(point, width)]));
}

/** Keep a point on the frame. */
export function clampPoint(point, width, height) {
  return {
    x: Math.min(Math.max(point.x, 0), Math.max(width - 1, 0)),
    y: Math.min(Math.max(point.y, 0), Math.max(height - 1, 0)),
  };
}

/** Arrow keys: 1 pixel, 10 with Shift; null for any other key. */
export function arrowStep(key, shift) {
  const size = shift ? 10 : 1;
  const steps = {
    ArrowLeft: { dx: -size, dy: 0 },
    ArrowRight: { dx: size, dy: 0 },
    ArrowUp: { dx: 0, dy: -size },
    ArrowDown: { dx: 0, dy: size },
  };
  return steps[key] || null;
}

/**
 * Where to draw the angle's arc around the axis: canvas angles (radians) of both arms, and
 * which way round is the short way (the measured angle, never its 360° complement).
 */
export function arcBetween(proximal, axis, distal) {
  const start = Math.atan2(proximal.y - axis.y, proximal.x - axis.x);
  const end = Math.atan2(distal.y - axis.y, distal.x - axis.x);
  let sweep = end - start;
  while (sweep <= -Math.PI) sweep += 2 * Math.PI;
  while (sweep > Math.PI) sweep -= 2 * Math.PI;
  return { start, end, anticlockwise: sweep < 0 };
}

/** The index of the point within `radius` of `at` (the nearest one), or -1. */
export function nearestPoint(points, at, radius) {
  let best = -1;
  let bestDistance = radius;
  points.forEach((point, index) => {
    const distance = armLength(point, at);
    if (distance <= bestDistance) {
      best = index;
      bestDistance = distance;
    }
  });
  return best;
}

/** Starting points on a frame: a right angle in the middle, each point easy to grab. */
export function startingPoints(width, height) {
  return {
    proximal: { x: Math.round(width * 0.5), y: Math.round(height * 0.2) },
    axis: { x: Math.round(width * 0.5), y: Math.round(height * 0.55) },
    distal: { x: Math.round(width * 0.8), y: Math.round(height * 0.55) },
  };
}
